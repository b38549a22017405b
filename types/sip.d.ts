// The npm package `sip` ships no types. We use only its codec (parse, stringify, URIs):
// its transport and transaction layers are replaced by our own (see docs/architecture.md).
declare module 'sip' {
  export interface SipUri {
    schema: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params: Record<string, string | null>;
    headers: Record<string, string>;
  }
  export interface Via {
    version: string;
    protocol: string;
    host: string;
    port?: number;
    params: Record<string, string | null>;
  }
  export interface NameAddr {
    name?: string;
    uri: string;
    params: Record<string, string | null>;
  }
  export interface CSeq {
    seq: number;
    method: string;
  }
  export interface Headers {
    via: Via[];
    to: NameAddr;
    from: NameAddr;
    'call-id': string;
    cseq: CSeq;
    'content-length'?: number;
    contact?: NameAddr[] | '*';
    [name: string]: unknown;
  }
  export interface Message {
    method?: string;
    uri?: string;
    status?: number;
    reason?: string;
    version: string;
    headers: Headers;
    /** The body as a 'binary' (latin1) string: one char per byte. */
    content?: string;
  }
  export function parse(data: string | Buffer): Message | undefined;
  export function stringify(message: Message): string;
  export function parseUri(uri: string): SipUri | undefined;
  export function stringifyUri(uri: SipUri | string): string;
  export function makeResponse(
    request: Message,
    status: number,
    reason?: string,
    extension?: { headers?: Record<string, unknown>; content?: string },
  ): Message;
  export function generateBranch(): string;
}
