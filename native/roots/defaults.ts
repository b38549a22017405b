// What both composition roots and the command line agree on.
export const VERSION = '0.1.0';
/** The overlay a node joins, and an origin looks for rescuers in, when none is named. */
export const DEFAULT_OVERLAY = 'peerdial';
