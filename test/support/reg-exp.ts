/** `text` as a regular expression source that matches exactly `text` (for a pattern built around a URL, a command, a name). */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
