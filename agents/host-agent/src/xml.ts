/**
 * A small XML reader for libvirt's own documents (domain XML, capabilities). libvirt writes
 * well-formed XML with quoted attributes and the five standard entities, which is all this handles;
 * it is not a general parser (no DTDs, no external entities - by design).
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function unescape(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === "#") {
      const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e] ?? m;
  });
}

export class XmlError extends Error {
  override readonly name = "XmlError";
  readonly code = "INVALID_XML";
}

const ATTR = /([^\s=/>]+)\s*=\s*("([^"]*)"|'([^']*)')/g;

export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const top = stack[stack.length - 1] as XmlElement;
    if (lt < 0) {
      top.text += unescape(xml.slice(i));
      break;
    }
    if (lt > i) top.text += unescape(xml.slice(i, lt));
    if (xml.startsWith("<!--", lt)) {
      const end = xml.indexOf("-->", lt + 4);
      if (end < 0) throw new XmlError("unterminated comment");
      i = end + 3;
    } else if (xml.startsWith("<![CDATA[", lt)) {
      const end = xml.indexOf("]]>", lt + 9);
      if (end < 0) throw new XmlError("unterminated CDATA");
      top.text += xml.slice(lt + 9, end);
      i = end + 3;
    } else if (xml.startsWith("<?", lt) || xml.startsWith("<!", lt)) {
      const end = xml.indexOf(">", lt);
      if (end < 0) throw new XmlError("unterminated declaration");
      i = end + 1;
    } else if (xml[lt + 1] === "/") {
      const end = xml.indexOf(">", lt);
      if (end < 0) throw new XmlError("unterminated end tag");
      const name = xml.slice(lt + 2, end).trim();
      if (top.name !== name || stack.length < 2) throw new XmlError(`unexpected </${name}>`);
      stack.pop();
      i = end + 1;
    } else {
      const end = findTagEnd(xml, lt);
      const body = xml.slice(lt + 1, end);
      const selfClosing = body.endsWith("/");
      const inner = selfClosing ? body.slice(0, -1) : body;
      const m = /^[^\s/>]+/.exec(inner);
      if (!m) throw new XmlError(`bad tag at offset ${lt}`);
      const el: XmlElement = { name: m[0], attrs: {}, children: [], text: "" };
      for (const a of inner.slice(m[0].length).matchAll(ATTR)) {
        el.attrs[a[1] as string] = unescape(a[3] ?? a[4] ?? "");
      }
      top.children.push(el);
      if (!selfClosing) stack.push(el);
      i = end + 1;
    }
  }
  if (stack.length !== 1) throw new XmlError(`unclosed <${(stack[stack.length - 1] as XmlElement).name}>`);
  const doc = root.children[0];
  if (!doc) throw new XmlError("no root element");
  return doc;
}

function findTagEnd(xml: string, from: number): number {
  let quote: string | null = null;
  for (let j = from + 1; j < xml.length; j++) {
    const c = xml[j];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ">") return j;
  }
  throw new XmlError("unterminated tag");
}

/** The local part of a possibly prefixed name. */
export const localName = (name: string): string => name.slice(name.indexOf(":") + 1);

export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

export function children(el: XmlElement | undefined, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** First element on the path of child names, e.g. path(dom, "devices", "disk"). */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const n of names) cur = child(cur, n);
  return cur;
}

/** Serialises an element back to XML (for handing a CPU definition to compareCpu). */
export function toXml(el: XmlElement): string {
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}="${esc(v)}"`)
    .join("");
  const inner = esc(el.text.trim()) + el.children.map(toXml).join("");
  return inner ? `<${el.name}${attrs}>${inner}</${el.name}>` : `<${el.name}${attrs}/>`;
}
