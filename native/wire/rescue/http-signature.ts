// Content integrity for responses an origin hands to rescue servers: RFC 9530 Content-Digest over
// the body, and an RFC 9421 HTTP Message Signature (Ed25519) over the status, the request target
// and the headers that describe the body. A rescue server checks both before it caches or serves
// anything, so a volunteer can neither alter content nor pass one URL's content off as another's.
//
// Both headers are RFC 8941 Structured Fields; the small parser/serializer below covers what
// they use (dictionaries, inner lists, items with parameters).
import { createHash, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

// --- RFC 8941 Structured Fields -------------------------------------------------------------

export type BareItem =
  | { type: 'integer'; value: number }
  | { type: 'decimal'; value: number }
  | { type: 'string'; value: string }
  | { type: 'token'; value: string }
  | { type: 'bytes'; value: Buffer }
  | { type: 'boolean'; value: boolean };
export type Parameters = Map<string, BareItem>;
export interface SfItem { kind: 'item'; value: BareItem; params: Parameters }
export interface SfInnerList { kind: 'inner-list'; items: SfItem[]; params: Parameters }
export type SfDictionary = Map<string, SfItem | SfInnerList>;

class SfParseError extends Error {}

class SfParser {
  private i = 0;
  constructor(private readonly s: string) {}

  // RFC 8941 4.2: leading and trailing SP are discarded before parsing.
  dictionary(): SfDictionary {
    const out: SfDictionary = new Map();
    this.skipSp();
    while (this.i < this.s.length) {
      const key = this.key();
      let member: SfItem | SfInnerList;
      if (this.s[this.i] === '=') {
        this.i++;
        member = this.itemOrInnerList();
      } else {
        member = { kind: 'item', value: { type: 'boolean', value: true }, params: this.parameters() };
      }
      // RFC 8941 4.2.2: a repeated key overwrites the earlier value.
      out.set(key, member);
      this.skipOws();
      if (this.i >= this.s.length) return out;
      if (this.s[this.i] !== ',') throw new SfParseError('expected a comma between dictionary members');
      this.i++;
      this.skipOws();
      if (this.i >= this.s.length) throw new SfParseError('trailing comma');
    }
    return out;
  }

  private itemOrInnerList(): SfItem | SfInnerList {
    return this.s[this.i] === '(' ? this.innerList() : this.item();
  }

  private innerList(): SfInnerList {
    this.i++; // '('
    const items: SfItem[] = [];
    for (;;) {
      this.skipSp();
      if (this.i >= this.s.length) throw new SfParseError('unterminated inner list');
      if (this.s[this.i] === ')') {
        this.i++;
        return { kind: 'inner-list', items, params: this.parameters() };
      }
      items.push(this.item());
      const c = this.s[this.i];
      if (c !== ' ' && c !== ')') throw new SfParseError('bad inner list');
    }
  }

  private item(): SfItem {
    const value = this.bareItem();
    return { kind: 'item', value, params: this.parameters() };
  }

  private parameters(): Parameters {
    const params: Parameters = new Map();
    while (this.s[this.i] === ';') {
      this.i++;
      this.skipSp();
      const key = this.key();
      let value: BareItem = { type: 'boolean', value: true };
      if (this.s[this.i] === '=') {
        this.i++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  private key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.i));
    if (!m) throw new SfParseError('bad key');
    this.i += m[0].length;
    return m[0];
  }

  private bareItem(): BareItem {
    const c = this.s[this.i];
    if (c === undefined) throw new SfParseError('missing value');
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.bytes();
    if (c === '?') return this.boolean();
    if (c === '*' || /[A-Za-z]/.test(c)) return this.token();
    throw new SfParseError('unknown item type');
  }

  private number(): BareItem {
    const m = /^-?(\d+)(\.(\d+))?/.exec(this.s.slice(this.i));
    if (!m) throw new SfParseError('bad number');
    this.i += m[0].length;
    if (m[2] === undefined) {
      if (m[1].length > 15) throw new SfParseError('integer too long');
      return { type: 'integer', value: Number(m[0]) };
    }
    if (m[1].length > 12 || m[3].length > 3) throw new SfParseError('decimal too long');
    return { type: 'decimal', value: Number(m[0]) };
  }

  private string(): BareItem {
    this.i++;
    let out = '';
    while (this.i < this.s.length) {
      const c = this.s[this.i++];
      if (c === '\\') {
        const next = this.s[this.i++];
        if (next !== '"' && next !== '\\') throw new SfParseError('bad escape');
        out += next;
      } else if (c === '"') {
        return { type: 'string', value: out };
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) throw new SfParseError('bad character in string');
        out += c;
      }
    }
    throw new SfParseError('unterminated string');
  }

  private bytes(): BareItem {
    const end = this.s.indexOf(':', this.i + 1);
    if (end < 0) throw new SfParseError('unterminated byte sequence');
    const b64 = this.s.slice(this.i + 1, end);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw new SfParseError('bad base64');
    this.i = end + 1;
    return { type: 'bytes', value: Buffer.from(b64, 'base64') };
  }

  private boolean(): BareItem {
    const v = this.s[this.i + 1];
    if (v !== '0' && v !== '1') throw new SfParseError('bad boolean');
    this.i += 2;
    return { type: 'boolean', value: v === '1' };
  }

  private token(): BareItem {
    const m = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/.exec(this.s.slice(this.i));
    this.i += m![0].length;
    return { type: 'token', value: m![0] };
  }

  private skipSp(): void {
    while (this.s[this.i] === ' ') this.i++;
  }

  private skipOws(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }
}

/** An RFC 8941 dictionary, or undefined when the field value does not parse. */
export function parseDictionary(value: string): SfDictionary | undefined {
  try {
    return new SfParser(value.replace(/^[ \t]+|[ \t]+$/g, '')).dictionary();
  } catch (e) {
    if (e instanceof SfParseError) return undefined;
    throw e;
  }
}

function serializeBareItem(v: BareItem): string {
  switch (v.type) {
    case 'integer':
      return String(v.value);
    case 'decimal':
      return Number.isInteger(v.value) ? `${v.value}.0` : String(Math.round(v.value * 1000) / 1000);
    case 'string':
      return `"${v.value.replace(/[\\"]/g, (c) => '\\' + c)}"`;
    case 'token':
      return v.value;
    case 'bytes':
      return `:${v.value.toString('base64')}:`;
    case 'boolean':
      return v.value ? '?1' : '?0';
  }
}

function serializeParameters(params: Parameters): string {
  let out = '';
  for (const [key, value] of params) {
    // RFC 8941 4.1.1.2: a true boolean parameter is its key alone.
    out += value.type === 'boolean' && value.value ? `;${key}` : `;${key}=${serializeBareItem(value)}`;
  }
  return out;
}

function serializeItem(item: SfItem): string {
  return serializeBareItem(item.value) + serializeParameters(item.params);
}

function serializeInnerList(list: SfInnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParameters(list.params)}`;
}

function isPrintableAscii(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

// --- RFC 9530 Content-Digest ----------------------------------------------------------------

/** A Map: a member named "constructor" must find nothing (it found Object, and createHash threw). */
const DIGEST_ALGORITHMS: ReadonlyMap<string, string> = new Map([
  ['sha-256', 'sha256'],
  ['sha-512', 'sha512'],
]);

/** `sha-256=:BASE64:` (RFC 9530 2, structured-field byte sequence). */
export function contentDigest(body: Buffer): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}

/** True when the header has a sha-256 (or sha-512) member that matches the body. Unknown algorithms alone -> false. */
export function checkContentDigest(header: string | undefined, body: Buffer): boolean {
  if (header === undefined) return false;
  const dict = parseDictionary(header);
  if (!dict) return false;
  let matched = false;
  for (const [algorithm, member] of dict) {
    const hash = DIGEST_ALGORITHMS.get(algorithm);
    // RFC 9530 2: algorithms the recipient does not know are ignored.
    if (!hash) continue;
    if (member.kind !== 'item' || member.value.type !== 'bytes') return false;
    const expected = createHash(hash).update(body).digest();
    // Every known algorithm listed has to agree: one wrong digest means the body is not the one signed.
    if (member.value.value.length !== expected.length || !timingSafeEqual(member.value.value, expected)) return false;
    matched = true;
  }
  return matched;
}

// --- RFC 9421 HTTP Message Signatures -------------------------------------------------------

/** What a signature over a response covers. Header names lower-case. */
export interface ResponseToSign {
  status: number;
  headers: Record<string, string | undefined>; // content-digest, content-type, etag, last-modified, cache-control, expires ...
  /** The request's path and query as the origin received it, e.g. "/img/a.png?v=2" (covered as "@path";req and "@query";req). */
  requestTarget: string;
}

export const SIGNATURE_LABEL = 'rescue';
const ALGORITHM = 'ed25519';
/** Headers covered whenever present. */
const SIGNED_HEADERS = ['content-digest', 'content-type', 'etag', 'last-modified', 'cache-control', 'expires'];
/** RFC 9530 6: a body-carrying success has to be bound to its digest, or the body could be swapped. */
const STATUSES_WITH_CONTENT = new Set([200, 203, 206]);
/** Allowed clock difference between origin and rescue server when checking `created`. */
const CLOCK_SKEW_SECONDS = 60;

/** The Accept-Signature request header value (RFC 9421 5.1) a rescue server sends to ask for a signed response. */
export const ACCEPT_SIGNATURE = `${SIGNATURE_LABEL}=("@status" "@path";req "@query";req "content-digest");alg="${ALGORITHM}"`;

/** One covered component: a lower-case field name or a derived component (`@status`), maybe from the request (`;req`). */
export interface CoveredComponent { name: string; req?: boolean }
export interface SignatureParams { created?: number; expires?: number; keyid?: string; alg?: string; nonce?: string; tag?: string }

function componentItem(c: CoveredComponent): SfItem {
  const params: Parameters = new Map();
  if (c.req) params.set('req', { type: 'boolean', value: true });
  return { kind: 'item', value: { type: 'string', value: c.name }, params };
}

function paramsOf(p: SignatureParams): Parameters {
  const params: Parameters = new Map();
  if (p.created !== undefined) params.set('created', { type: 'integer', value: p.created });
  if (p.expires !== undefined) params.set('expires', { type: 'integer', value: p.expires });
  if (p.nonce !== undefined) params.set('nonce', { type: 'string', value: p.nonce });
  if (p.keyid !== undefined) params.set('keyid', { type: 'string', value: p.keyid });
  if (p.alg !== undefined) params.set('alg', { type: 'string', value: p.alg });
  if (p.tag !== undefined) params.set('tag', { type: 'string', value: p.tag });
  return params;
}

/** RFC 9421 2.3: the `@signature-params` value, which is also the Signature-Input member value. */
export function serializeSignatureParams(covered: CoveredComponent[], params: SignatureParams): string {
  return serializeInnerList({ kind: 'inner-list', items: covered.map(componentItem), params: paramsOf(params) });
}

/**
 * RFC 9421 2.5: one line `"identifier": value` per covered component, in order, then the
 * `"@signature-params"` line; lines end in LF, the last has none.
 */
export function signatureBase(lines: Array<{ component: CoveredComponent; value: string }>, signatureParams: string): string {
  let base = '';
  for (const { component, value } of lines) {
    if (/[\r\n]/.test(value)) throw new Error(`component ${component.name} contains a line break`);
    base += `${serializeItem(componentItem(component))}: ${value}\n`;
  }
  return base + `"@signature-params": ${signatureParams}`;
}

function splitTarget(target: string): { path: string; query: string | undefined } {
  let t = target;
  // An absolute-form target (RFC 9112 3.2.2) still has its path and query after the authority.
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(t);
  if (absolute) t = t.slice(absolute[0].length);
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  return q < 0 ? { path: t, query: undefined } : { path: t.slice(0, q), query: t.slice(q + 1) };
}

function fieldValue(headers: Record<string, string | undefined>, name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    for (const [k, v] of Object.entries(headers)) {
      if (k.toLowerCase() === name && v !== undefined) {
        value = v;
        break;
      }
    }
  }
  // RFC 9421 2.1: leading and trailing whitespace is removed; an obs-fold becomes one space.
  return value?.replace(/\r?\n[ \t]+/g, ' ').replace(/^[ \t]+|[ \t]+$/g, '');
}

/** The value of one covered component of a response, or a reason it cannot be had. */
function componentValue(response: ResponseToSign, component: SfItem): { value: string } | { error: string } {
  if (component.value.type !== 'string') return { error: 'component identifier is not a string' };
  const name = component.value.value;
  const req = component.params.get('req');
  const fromRequest = req !== undefined && req.type === 'boolean' && req.value;
  for (const key of component.params.keys()) {
    // `sf`, `bs`, `key`, `name`, `tr` are not used by our signer; a component we cannot rebuild fails.
    if (key !== 'req') return { error: `unsupported component parameter ${key} on ${name}` };
  }
  if (req !== undefined && !fromRequest) return { error: `bad req parameter on ${name}` };
  const target = splitTarget(response.requestTarget);
  switch (name) {
    case '@status':
      // RFC 9421 2.2.9: three-digit status code, and it exists only in the response.
      if (fromRequest) return { error: '@status cannot come from the request' };
      if (!Number.isInteger(response.status) || response.status < 100 || response.status > 999) return { error: 'bad status' };
      return { value: String(response.status) };
    case '@path':
      // RFC 9421 2.4: request components in a response signature carry `;req`.
      if (!fromRequest) return { error: '@path needs ;req in a response signature' };
      // RFC 9421 2.2.6: an empty path is normalized as a single slash.
      return { value: target.path === '' ? '/' : target.path };
    case '@query':
      if (!fromRequest) return { error: '@query needs ;req in a response signature' };
      // RFC 9421 2.2.7: with no query the value is the leading `?` alone.
      return { value: `?${target.query ?? ''}` };
    default: {
      if (name.startsWith('@')) return { error: `unsupported derived component ${name}` };
      // RFC 9421 2.1: field names in component identifiers are lower-case.
      if (name !== name.toLowerCase() || !/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name)) return { error: `bad field name ${name}` };
      if (fromRequest) return { error: `request field ${name} is not available` };
      const value = fieldValue(response.headers, name);
      if (value === undefined) return { error: `covered field ${name} is absent` };
      if (/[\r\n]/.test(value)) return { error: `field ${name} contains a line break` };
      return { value };
    }
  }
}

/** Signs: returns the two headers to add. Covers "@status", "@path";req, "@query";req, and each of content-digest, content-type, etag, last-modified, cache-control, expires that is present (a 200 with a body MUST have content-digest; throw if it lacks it). Signature params: created (seconds), keyid, alg="ed25519". */
export function signResponse(response: ResponseToSign, privateKey: KeyObject, keyId: string, createdSeconds: number): { 'signature-input': string; signature: string } {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the rescue signing key must be Ed25519');
  if (!isPrintableAscii(keyId)) throw new RangeError('keyid must be printable ASCII');
  if (STATUSES_WITH_CONTENT.has(response.status) && fieldValue(response.headers, 'content-digest') === undefined) {
    throw new Error(`a ${response.status} response must carry Content-Digest before it is signed`);
  }
  const covered: CoveredComponent[] = [
    { name: '@status' },
    { name: '@path', req: true },
    { name: '@query', req: true },
    ...SIGNED_HEADERS.filter((h) => fieldValue(response.headers, h) !== undefined).map((name) => ({ name })),
  ];
  const signatureParams = serializeSignatureParams(covered, { created: Math.floor(createdSeconds), keyid: keyId, alg: ALGORITHM });
  const lines = covered.map((component) => {
    const r = componentValue(response, componentItem(component));
    if ('error' in r) throw new Error(r.error);
    return { component, value: r.value };
  });
  const base = signatureBase(lines, signatureParams);
  // RFC 9421 3.3.6: Ed25519 (RFC 8032) over the signature base bytes, no prehash.
  const sig = sign(null, Buffer.from(base, 'utf8'), privateKey);
  return {
    'signature-input': `${SIGNATURE_LABEL}=${signatureParams}`,
    signature: `${SIGNATURE_LABEL}=:${sig.toString('base64')}:`,
  };
}

type Verdict = { ok: true } | { ok: false; reason: string };

function fail(reason: string): Verdict {
  return { ok: false, reason };
}

/** Verifies per RFC 9421 3.2 with the label above: rebuilds the signature base from the covered components listed in Signature-Input, checks keyid and alg, that content-digest is covered when the status is 200/203/206, and (when maxAgeSeconds given) that created is not older than that. */
export function verifyResponse(
  response: ResponseToSign & { signatureInput?: string; signature?: string },
  publicKey: KeyObject,
  keyId: string,
  options: { nowSeconds?: number; maxAgeSeconds?: number } = {},
): Verdict {
  try {
    return verifyUnsafe(response, publicKey, keyId, options);
  } catch (e) {
    return fail(`verification error: ${(e as Error).message}`);
  }
}

function verifyUnsafe(
  response: ResponseToSign & { signatureInput?: string; signature?: string },
  publicKey: KeyObject,
  keyId: string,
  options: { nowSeconds?: number; maxAgeSeconds?: number },
): Verdict {
  if (response.signatureInput === undefined || response.signature === undefined) return fail('unsigned response');
  // RFC 9421 3.2 step 1-2: parse both fields and find the member for our label.
  const inputs = parseDictionary(response.signatureInput);
  if (!inputs) return fail('malformed Signature-Input');
  const signatures = parseDictionary(response.signature);
  if (!signatures) return fail('malformed Signature');
  const input = inputs.get(SIGNATURE_LABEL);
  const signature = signatures.get(SIGNATURE_LABEL);
  if (!input || !signature) return fail(`no signature labelled ${SIGNATURE_LABEL}`);
  if (input.kind !== 'inner-list') return fail('Signature-Input member is not an inner list');
  if (signature.kind !== 'item' || signature.value.type !== 'bytes') return fail('Signature member is not a byte sequence');

  // RFC 9421 3.2 step 4-5: the parameters have to fit what the verifier expects.
  const params = input.params;
  const keyid = params.get('keyid');
  if (!keyid || keyid.type !== 'string' || keyid.value !== keyId) return fail('keyid does not match');
  const alg = params.get('alg');
  if (!alg || alg.type !== 'string' || alg.value !== ALGORITHM) return fail('alg is not ed25519');
  const created = params.get('created');
  if (created !== undefined && created.type !== 'integer') return fail('created is not an integer');
  const expires = params.get('expires');
  if (expires !== undefined && expires.type !== 'integer') return fail('expires is not an integer');
  const needsClock = options.nowSeconds !== undefined || options.maxAgeSeconds !== undefined || expires !== undefined;
  if (needsClock) {
    const now = options.nowSeconds ?? Date.now() / 1000;
    if (expires !== undefined && now > (expires.value as number)) return fail('signature expired');
    if (created !== undefined && (created.value as number) > now + CLOCK_SKEW_SECONDS) return fail('created is in the future');
    if (options.maxAgeSeconds !== undefined) {
      if (created === undefined) return fail('no created parameter to check age');
      if (now - (created.value as number) > options.maxAgeSeconds) return fail('signature too old');
    }
  }

  // Which components are covered, and are the ones we rely on among them?
  const seen = new Set<string>();
  for (const item of input.items) {
    if (item.value.type !== 'string') return fail('component identifier is not a string');
    const id = serializeItem(item);
    // RFC 9421 3.2 step 6: the same component twice is an error.
    if (seen.has(id)) return fail(`component ${id} covered twice`);
    seen.add(id);
  }
  for (const required of ['"@status"', '"@path";req', '"@query";req']) {
    if (!seen.has(required)) return fail(`signature does not cover ${required}`);
  }
  if (STATUSES_WITH_CONTENT.has(response.status) && !seen.has('"content-digest"')) return fail('signature does not cover content-digest');

  // RFC 9421 3.2 step 6-7: rebuild the base from this message.
  const lines: Array<{ component: CoveredComponent; value: string }> = [];
  for (const item of input.items) {
    const r = componentValue(response, item);
    if ('error' in r) return fail(r.error);
    lines.push({ component: { name: item.value.value as string, req: item.params.has('req') }, value: r.value });
  }
  const base = signatureBase(lines, serializeInnerList(input));

  // RFC 9421 3.3.6: Ed25519 verification of the base bytes.
  if (publicKey.asymmetricKeyType !== 'ed25519') return fail('verification key is not Ed25519');
  const sig = signature.value.value as Buffer;
  if (sig.length !== 64) return fail('an Ed25519 signature is 64 bytes');
  if (!verify(null, Buffer.from(base, 'utf8'), publicKey, sig)) return fail('signature does not verify');
  return { ok: true };
}
