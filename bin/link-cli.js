// npm links a package's `bin` for its dependents, not for the package's own checkout; this makes
// `npx rankwright …` work in a clone right after `npm install` (run from the `prepare` script).
const fs = require('node:fs');
const path = require('node:path');
const binDir = path.join(__dirname, '..', 'node_modules', '.bin');
const link = path.join(binDir, 'rankwright');
fs.mkdirSync(binDir, { recursive: true });
try {
  fs.unlinkSync(link);
} catch {
  // no old link to remove
}
fs.symlinkSync(path.join('..', '..', 'bin', 'rankwright.js'), link);
