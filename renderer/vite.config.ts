// Builds the Svelte renderer into dist/renderer. `base: './'` keeps asset URLs relative, so the
// same build loads from the headless node's HTTP server and from a file:// URL in Electron.
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [svelte()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
  },
});
