import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Served at /console/ by `escrowgrid serve` and by nginx alike: absolute asset paths keep deep
// links working (an SPA fallback at any depth loads /console/assets/...).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: false },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test-setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
