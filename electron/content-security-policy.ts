// The desktop window's Content Security Policy, sent as a response header on every load so
// the renderer's HTML needs no <meta> tag. Scripts come only from our own files: no inline
// script, no eval. The window talks to the engine over IPC, so it needs no network at all.
export const DESKTOP_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  // As in browser mode (native/transport/ui-server.ts): Svelte sets style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "media-src 'self' blob:",
  "connect-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Response headers with our policy in place of any the response carried (in any letter case). */
export function withContentSecurityPolicy(headers: Record<string, string[]> | undefined): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() !== 'content-security-policy') result[name] = value;
  }
  result['Content-Security-Policy'] = [DESKTOP_CSP];
  return result;
}
