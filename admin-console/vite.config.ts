import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served by `escrowgrid serve` at /console/ and by nginx at / (the same relative build).
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test-setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
