/**
 * Reads the forms of our own server-rendered pages, the way a browser would submit them: action,
 * method and every named input with its value. Deliberately small: it only has to read pages this
 * project renders, and a test fails loudly if a page changes shape.
 */
export interface HtmlForm {
  action: string;
  method: string;
  fields: Record<string, string>;
}

const decode = (text: string) => text
  .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function attributes(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
    attrs[match[1]!.toLowerCase()] = decode(match[2] ?? match[3] ?? match[4] ?? '');
  }
  return attrs;
}

export function parseForms(html: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attrs = attributes(match[1]!);
    const fields: Record<string, string> = {};
    for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const inputAttrs = attributes(input[1]!);
      if (inputAttrs.name) fields[inputAttrs.name] = inputAttrs.value ?? '';
    }
    forms.push({ action: attrs.action ?? '', method: (attrs.method ?? 'get').toUpperCase(), fields });
  }
  return forms;
}

/** The visible text of a page, tags stripped, whitespace collapsed: what a person would read. */
export function visibleText(html: string): string {
  return decode(html.replace(/<(script|style|head)\b[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]+>/g, ' ')).replace(/\s+/g, ' ').trim();
}
