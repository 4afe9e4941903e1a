// ESLint (flat config) with typescript-eslint's type-aware rules. The point is the promise rules: a floating or
// misused promise in a worker is an unhandled rejection waiting to take the process down. Formatting is Prettier's
// job (eslint-config-prettier turns off the rules that would fight it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      '.temporal/',
      '.rankwright/',
      '.bench/',
      '.rankwright-test/',
      '.cache/',
      'bench/results/',
      'schemas/',
      'test/fixtures/histories/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Unused names are errors, except a deliberate `_name` (destructuring something away, an unused parameter).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // `any` is allowed where a test pokes at loose JSON; the type checker already runs in strict mode.
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The CLI and the demo load heavy modules (trainer, gpu.js, worker) lazily with require(): `rankwright status`
    // starts in a blink, and a dynamic import() would bypass tsx's CommonJS hook.
    files: ['client/cli.ts', 'client/demo.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
