// The slice of the WebAssembly JS API that native/wire/audio/opus.ts uses. Node has the global,
// but our lib (ES2023, no DOM) declares none of it and @types/node 20 leaves it out.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: BufferSource);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  type BufferSource = ArrayBufferView | ArrayBuffer;
}
