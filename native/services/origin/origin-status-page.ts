// The origin's status page for the site owner: state, load, redirect probability, rescuers and
// the recent log, refreshed every two seconds. The same figures are at status.json.
import type { OriginView } from '../rescue/index.js';

export function renderOriginStatusPage(view: OriginView, site: string): string {
  const rows = view.rescuers
    .map(
      (r) =>
        `<tr><td>${esc(r.id)}</td><td>${esc(r.httpUrl)}</td><td>${esc(r.state)}${r.reason ? ` (${esc(r.reason)})` : ''}</td><td>${r.allowedRps}${r.maxRps ? ` (at most ${r.maxRps})` : ''}</td><td>${r.redirected}</td><td>${r.byName ?? 0}</td><td>${r.refusedHosts ?? 0}</td><td>${r.rttMs ?? ''}</td></tr>`,
    )
    .join('');
  const log = view.log
    .slice()
    .reverse()
    .map((l) => `<li><time>${new Date(l.at).toISOString().slice(11, 19)}</time> ${esc(l.text)}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Peerdial origin: ${esc(view.state === 'sos' ? 'SOS' : 'normal')}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left}.sos{color:#b00020;font-weight:bold}dt{font-weight:bold;float:left;clear:left;width:14em}dd{margin:0 0 4px 14em}</style>
</head><body>
<h1>${esc(site)}</h1>
<dl>
<dt>State</dt><dd class="${view.state}">${view.state === 'sos' ? 'SOS: getting help from rescue servers' : 'Normal: serving every request itself'}</dd>
<dt>Load</dt><dd>${view.load.toFixed(2)} (band ${view.band.low}–${view.band.high})</dd>
<dt>Redirect probability</dt><dd>${(view.redirectProbability * 100).toFixed(0)}%</dd>
<dt>Requests per second</dt><dd>${view.requestsPerSecond}</dd>
<dt>Egress</dt><dd>${view.egressMbps} of ${view.capacityMbps} Mbit/s</dd>
<dt>Upstream latency</dt><dd>${view.upstreamLatencyMs} ms</dd>
<dt>CPU</dt><dd>${(view.cpu * 100).toFixed(0)}% of a core</dd>
<dt>Totals</dt><dd>${view.totals.requests} requests, ${view.totals.redirected} redirected (${view.totals.fromReserve ?? 0} past an allowance, into a donation's reserve), ${view.totals.served} served, ${view.totals.upstreamErrors} upstream errors, ${view.totals.spotChecks} spot checks (${view.totals.spotCheckFailures} failed)</dd>
<dt>By name at rescuers</dt><dd>${view.totals.byName} served, ${view.totals.refusedHosts} refused for host names no site gave them</dd>
</dl>
${dnsSection(view)}
<h2>Rescue servers</h2>
${rows ? `<table><tr><th>ID</th><th>URL</th><th>State</th><th>Allowed req/s</th><th>Redirected</th><th>Served by name</th><th>Hosts refused</th><th>RTT ms</th></tr>${rows}</table>` : '<p>None yet.</p>'}
${view.trust ? renderTrust(view.trust) : ''}
<h2>Log</h2><ul>${log}</ul>
</body></html>`;
}

/** DNS round robin (`--dns-update`): whether the zone takes the updates, and what is in it now. */
function dnsSection(view: OriginView): string {
  const dns = view.dns;
  if (!dns) return '<h2>DNS round robin</h2><p>Off: load moves by HTTP redirects (start with --dns-update to add rescuers to the site\'s name).</p>';
  const state =
    dns.state === 'failed'
      ? `<span class="sos">Failing: ${esc(dns.lastError ?? 'no answer')}. Load moves by HTTP redirects only.</span>`
      : dns.state === 'ready'
        ? 'Working'
        : 'Checking the key';
  return `<h2>DNS round robin</h2>
<dl data-dns-state="${dns.state}">
<dt>Name</dt><dd>${esc(dns.name)} in zone ${esc(dns.zone)}, TTL ${dns.ttl} s, updates to ${esc(dns.server)}</dd>
<dt>State</dt><dd>${state}</dd>
<dt>Rescuers in the zone</dt><dd>${dns.addresses.length ? dns.addresses.map(esc).join(', ') : 'none'}</dd>
<dt>Updates</dt><dd>${dns.updates} sent, ${dns.failures} failed</dd>
</dl>`;
}

/** Trusted rescue: pinned rescuers, their certificates, purges (origin-trust.ts). */
function renderTrust(trust: NonNullable<OriginView['trust']>): string {
  const t = trust.totals;
  const rows = trust.rescuers
    .map(
      (r) =>
        `<tr><td>${esc(r.id)}</td><td>${esc(r.host ?? '')}</td><td>${esc(r.state)}${r.reason ? ` (${esc(r.reason)})` : ''}</td><td>${r.certificateNotAfter ? new Date(r.certificateNotAfter).toISOString() : ''}</td><td>${r.purgeSeq}</td><td>${r.purgesRefused}</td></tr>`,
    )
    .join('');
  return `<h2>Trusted rescuers</h2>
<dl>
<dt>Site over HTTPS</dt><dd>${trust.https ? 'yes: users go only to trusted rescuers with a verified certificate' : 'no'}</dd>
<dt>Marked API paths</dt><dd>${trust.dynamic.length ? trust.dynamic.map(esc).join(', ') : 'none'}</dd>
<dt>Certificates</dt><dd>${t.certificatesIssued} issued, ${t.certificatesRefused} refused (${t.expiredCertificates} expired)</dd>
<dt>Purges</dt><dd>${t.purgesSent} sent (last sequence ${t.lastPurgeSeq}), ${t.purgesNotTaken} not taken, ${t.purgesRefusedAtRescuers} forged or replayed refused by rescuers</dd>
</dl>
${rows ? `<table><tr><th>ID</th><th>Host name</th><th>State</th><th>Certificate valid until</th><th>Last purge</th><th>Forged/replayed purges refused</th></tr>${rows}</table>` : `<p>${trust.pinned.length} pinned, none has accepted yet.</p>`}`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
