// A TCP proxy in front of one lab host that can drop every connection for a while, as a VPN re-key,
// a laptop changing networks or a bastion restart does: `drop(ms)` resets every open connection and
// refuses new ones for that long; `restore()` ends the drop early.
import net from 'node:net';

export class DropProxy {
  /** @param {{address: string, port: number}} target */
  constructor(target) {
    this.target = target;
    this.open = new Set();
    this.downUntil = 0;
    this.port = 0;
    this.server = net.createServer((client) => {
      client.on('error', () => undefined);
      if (Date.now() < this.downUntil) {
        client.resetAndDestroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.address);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      for (const s of [client, upstream]) {
        this.open.add(s);
        s.on('close', () => this.open.delete(s));
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  /** Listen on 127.0.0.1 on a free port (then `port`). */
  listen() {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => {
      this.port = this.server.address().port;
      resolve();
    }));
  }

  drop(ms) {
    this.downUntil = Date.now() + ms;
    for (const s of this.open) s.resetAndDestroy();
  }

  restore() {
    this.downUntil = 0;
  }

  close() {
    for (const s of this.open) s.destroy();
    this.server.close();
  }
}
