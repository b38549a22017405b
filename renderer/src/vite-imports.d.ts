// What Vite's import suffixes give the renderer (the renderer's tsconfig loads no vite/client types).
declare module '*?worker&url' {
  const url: string;
  export default url;
}
