export function label(version: string): string {
  return `label-${version}`;
}
