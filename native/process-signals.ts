// How the command-line faces stop: the first SIGINT or SIGTERM stops the running work, within a
// deadline whatever it does; a second signal exits at once.
export function stopOnSignals(stop: () => Promise<void>, deadlineMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = () => {
      if (++signals > 1) process.exit(130);
      setTimeout(() => process.exit(1), deadlineMs).unref();
      stop().then(resolve, resolve);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
