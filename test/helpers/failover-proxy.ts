import { createServer, request, type IncomingMessage, type Server } from 'node:http';

/**
 * A load balancer on 127.0.0.1 in front of several hub processes: every
 * request goes to the first target that accepts the connection (a target
 * refusing it is skipped, and stays skipped); a reply cut off by a target
 * that dies mid-request is a cut-off reply (the client retries). `onRequest`
 * sees each request (its path and its number) before it is forwarded, so a
 * test can kill a hub at a chosen moment; `onSent` once a request's body
 * has been handed to a target (to kill it while it has the request).
 */
export async function failoverProxy(targets: string[], onRequest?: (path: string, n: number, target: string) => void, onSent?: (path: string, target: string) => void): Promise<{ url: string; close(): Promise<void>; served: Map<string, number> }> {
  let current = 0;
  let n = 0;
  const served = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      onRequest?.(req.url ?? '', n++, targets[current]!);
      const forward = (): void => {
        const target = targets[current]!;
        const to = new URL(target);
        let connected = false;
        const out = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers, agent: false }, (r) => {
          served.set(target, (served.get(target) ?? 0) + 1);
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
          r.on('error', () => res.destroy());
        });
        out.on('socket', (s) => s.once('connect', () => (connected = true)));
        out.on('error', () => {
          if (!connected && current < targets.length - 1) {
            current++;
            return forward();
          }
          res.destroy();
        });
        out.end(body, () => onSent?.(req.url ?? '', target));
      };
      forward();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    served,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
