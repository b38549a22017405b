// The two protocol clients of @silentbot1/nat-api that Peerdial uses (it ships no types).
declare module '@silentbot1/nat-api/lib/pmp/index.js' {
  /** NAT-PMP (RFC 6886) towards one gateway; it binds UDP 5350 with SO_REUSEADDR. */
  export default class NatPmpClient {
    constructor(gateway: string);
    /** ttl 0 deletes. */
    portMapping(options: { type: 'udp' | 'tcp'; private: number; public: number; ttl: number }): Promise<{ private: number; public: number; ttl: number; type: 'udp' | 'tcp'; epoch: number }>;
    portUnmapping(options: { type: 'udp' | 'tcp'; private: number; public: number }): Promise<unknown>;
    externalIp(): Promise<string>;
    close(): Promise<void>;
  }
}

declare module '@silentbot1/nat-api/lib/upnp/index.js' {
  /** UPnP IGD: SSDP search for an InternetGatewayDevice, then SOAP to its WAN connection service. */
  export default class UpnpClient {
    constructor(options?: { permanentFallback?: boolean });
    findGateway(): Promise<{ gateway: { url: string }; address: string }>;
    portMapping(options: { public: number; private: { host: string; port: number }; protocol: 'udp' | 'tcp'; ttl: number; description: string }): Promise<unknown>;
    portUnmapping(options: { public: number; protocol: 'udp' | 'tcp' }): Promise<unknown>;
    externalIp(): Promise<string>;
    destroy(): Promise<void>;
  }
}
