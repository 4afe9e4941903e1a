/**
 * Bytes for people, in decimal units (kB, MB, GB: powers of 1000), the units disks are sold in and the unit of
 * RANKWRIGHT_HOME_MAX_GB: "0 B", "512 B", "1.5 kB", "590 MB", "12.4 GB".
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  if (unit === 0) return `${Math.round(value)} B`;
  // Three significant digits at most: "1.23 GB", "12.3 GB", "123 GB".
  return `${value >= 100 ? Math.round(value) : Number(value.toFixed(value >= 10 ? 1 : 2))} ${units[unit]}`;
}
