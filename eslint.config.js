// ESLint for the TypeScript sources; the layer rule itself is scripts/check-layers.js (it reads .svelte too).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'release/**', 'node_modules/**', 'renderer/**/*.svelte', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-control-regex': 'off',
      // Electron and Node types only: the engine never imports Electron.
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'Only electron/ may import Electron.' }] }],
    },
  },
  { files: ['electron/**'], rules: { 'no-restricted-imports': 'off' } },
  { files: ['renderer/**'], languageOptions: { globals: { ...globals.browser } } },
  { files: ['**/*.cts'], languageOptions: { sourceType: 'commonjs' } },
);
