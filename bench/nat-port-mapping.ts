// bench:nat, port mapping: how long Peerdial's PortMapper takes to map a UDP port (UDP and TCP)
// on miniupnpd in the NAT lab's 'upnp' router, by PCP, NAT-PMP and UPnP IGD, against miniupnpc's
// own clients (upnpc, natpmpc) mapping one port on the same router in the same run. Ours is timed
// inside the process (test/netns/map-port.ts); theirs as a whole process, which they are.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { runIn } from '../test/netns/lan.js';
import { makeNatLab } from '../test/netns/nat-lab.js';

export interface PortMappingBench {
  /** Median ms to a mapping, per protocol (ours maps UDP and TCP). */
  oursMs: Record<'pcp' | 'nat-pmp' | 'upnp', number>;
  /** Median ms for upnpc -a and natpmpc -a (one protocol each, one mapping). */
  theirsMs: { upnpc: number; natpmpc: number };
  /** ours / theirs for the protocols both speak. */
  ratio: { upnp: number; natPmp: number };
  runs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function measurePortMapping(runs = 5): Promise<PortMappingBench> {
  const lab = await makeNatLab();
  try {
    const router = await lab.addRouter('upnp');
    const host = await lab.addHost(router);
    const script = path.resolve('test/netns/map-port.ts');
    const ours = { pcp: [] as number[], 'nat-pmp': [] as number[], upnp: [] as number[] };
    const theirs = { upnpc: [] as number[], natpmpc: [] as number[] };
    let port = 42000;
    for (let run = 0; run < runs; run++) {
      for (const protocol of ['pcp', 'nat-pmp', 'upnp'] as const) {
        const p = port++;
        const child = spawn('ip', ['netns', 'exec', host.ns, process.execPath, '--import', 'tsx', script, protocol, router.gateway, host.address, String(p)], { stdio: ['pipe', 'pipe', 'inherit'] });
        const first = await new Promise<string>((resolve) => {
          let out = '';
          child.stdout.on('data', (d) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0]);
          });
        });
        const view = JSON.parse(first) as { state: string; mapMs: number };
        if (view.state !== 'mapped') throw new Error(`${protocol}: no mapping (${first})`);
        ours[protocol].push(view.mapMs);
        child.stdin.end();
        await new Promise((resolve) => child.on('exit', resolve));
      }
      const timed = async (command: string, args: string[]) => {
        const began = performance.now();
        await runIn(host.ns, command, args, 20_000);
        return Math.round((performance.now() - began) * 10) / 10;
      };
      const up = port++;
      theirs.upnpc.push(await timed('upnpc', ['-i', '-e', 'bench', '-a', host.address, String(up), String(up), 'UDP']));
      await runIn(host.ns, 'upnpc', ['-i', '-d', String(up), 'UDP'], 20_000).catch(() => undefined);
      const pmp = port++;
      theirs.natpmpc.push(await timed('natpmpc', ['-g', router.gateway, '-a', String(pmp), String(pmp), 'udp', '60']));
      await runIn(host.ns, 'natpmpc', ['-g', router.gateway, '-a', String(pmp), String(pmp), 'udp', '0'], 20_000).catch(() => undefined);
    }
    const oursMs = { pcp: median(ours.pcp), 'nat-pmp': median(ours['nat-pmp']), upnp: median(ours.upnp) };
    const theirsMs = { upnpc: median(theirs.upnpc), natpmpc: median(theirs.natpmpc) };
    const round = (x: number) => Math.round(x * 100) / 100;
    return { oursMs, theirsMs, ratio: { upnp: round(oursMs.upnp / theirsMs.upnpc), natPmp: round(oursMs['nat-pmp'] / theirsMs.natpmpc) }, runs };
  } finally {
    await lab.teardown();
  }
}
