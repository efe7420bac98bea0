// TLS listeners (`--listen tls:HOST:PORT`, docs/virtual-machines.md "TLS"): the certificate and
// key the mediator serves and the CA that signs guests' client certificates, reloaded on SIGHUP;
// what a guest's certificate says about it; and the relay that carries an attached session's
// cleartext between the guest's TLS connection and its executor.
//
// Why a relay: an executor serves its guest over the socket descriptor the mediator hands it (one
// hop). A TLS session's state lives in the process that made the handshake, and Node cannot hand
// it to another process, so the mediator keeps the TLS socket and pipes cleartext to the executor
// over a private Unix socket. That costs a copy in each direction through the mediator (measured
// by `make bench`, docs/benchmarks.md), and a mediator restart ends TLS sessions; it buys a
// guest's token and data never crossing a network in cleartext.

import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Logger } from 'pino';

import type { Channel } from './listen.js';

/** A certificate and key pair that loaded and match, and the client CA when there is one. */
interface Pair {
  cert: Buffer;
  key: Buffer;
  /** `sha256:HEX` of the certificate: what guests pin (VGPU_TLS_PIN). */
  pin: string;
  /** The certificates that sign guests' client certificates (--tls-client-ca). */
  clientCa?: { pem: Buffer; subjects: string[] };
}

/** Client certificates: the CA file that signs them, and whether a guest must present one. */
export interface ClientCertPolicy {
  caFile: string;
  required: boolean;
}

/** 64 lower-case hex digits of a certificate's SHA-256: what `vm set --tls-client-cert-sha256`
 * stores. */
function sha256Hex(c: X509Certificate): string {
  return c.fingerprint256.replaceAll(':', '').toLowerCase();
}

/** `sha256:HEX` of a PEM certificate's DER form: what the guest's VGPU_TLS_PIN compares. */
export function certificatePin(certPem: Buffer | string): string {
  return `sha256:${sha256Hex(new X509Certificate(certPem))}`;
}

/** Every certificate of a PEM file; throws when there is none or one does not parse (Node's
 * secure context would ignore such text, and no guest would ever verify). */
function loadCaFile(file: string): { pem: Buffer; subjects: string[] } {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new Error(`--tls-client-ca ${file}: ${(e as Error).message}`);
  }
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`--tls-client-ca ${file}: no PEM certificate in it`);
  const subjects = blocks.map((b, i) => {
    try {
      return new X509Certificate(b).subject.replaceAll('\n', ', ');
    } catch (e) {
      throw new Error(`--tls-client-ca ${file}: certificate ${i + 1}: ${(e as Error).message}`);
    }
  });
  return { pem, subjects };
}

function loadPair(certFile: string, keyFile: string, client?: ClientCertPolicy): Pair {
  let cert: Buffer, key: Buffer;
  try {
    cert = readFileSync(certFile);
  } catch (e) {
    throw new Error(`--tls-cert ${certFile}: ${(e as Error).message}`);
  }
  try {
    key = readFileSync(keyFile);
  } catch (e) {
    throw new Error(`--tls-key ${keyFile}: ${(e as Error).message}`);
  }
  try {
    // Parses both and checks that the key is the certificate's.
    tls.createSecureContext({ cert, key });
  } catch (e) {
    throw new Error(`--tls-cert ${certFile} / --tls-key ${keyFile}: ${(e as Error).message}`);
  }
  return { cert, key, pin: certificatePin(cert), ...(client && { clientCa: loadCaFile(client.caFile) }) };
}

/** The secure context options of a pair: with a client CA, the CA guests' certificates must chain
 * to (and whose names the server's certificate request lists). */
function contextOf(p: Pair): tls.SecureContextOptions {
  return { cert: p.cert, key: p.key, ...(p.clientCa && { ca: p.clientCa.pem }) };
}

/**
 * What a tls: guest's client certificate makes of its channel (admission.ts decides on it): its
 * SHA-256 once it verified against the client CA; why the guest may not go on when it presented
 * one that did not verify, or none where one is required. Without a client CA no certificate is
 * asked for and the channel is the peer alone.
 */
export function tlsChannel(s: tls.TLSSocket, client: ClientCertPolicy | undefined): Channel {
  const peer = `${s.remoteAddress}:${s.remotePort}`;
  if (!client) return { kind: 'tls', peer };
  const cert = s.getPeerX509Certificate();
  if (!cert) {
    return client.required
      ? { kind: 'tls', peer, certRefused: 'this listener requires a client certificate signed by the mediator\'s --tls-client-ca (set VGPU_TLS_CERT and VGPU_TLS_KEY)' }
      : { kind: 'tls', peer };
  }
  if (!s.authorized) {
    // Node gives OpenSSL's verification error as its code (X509_V_ERR_ without the prefix), e.g.
    // UNABLE_TO_VERIFY_LEAF_SIGNATURE for another CA's certificate, CERT_HAS_EXPIRED.
    const why = s.authorizationError instanceof Error ? s.authorizationError.message : String(s.authorizationError);
    return { kind: 'tls', peer, certRefused: `the client certificate sha256:${sha256Hex(cert)} does not verify against the mediator's --tls-client-ca (${why})` };
  }
  return { kind: 'tls', peer, clientCert: sha256Hex(cert) };
}

/** The certificate and key of the mediator's TLS listeners, and the CA of guests' certificates. */
export class TlsCredentials {
  private pair: Pair;
  private readonly servers = new Set<tls.Server>();

  /** Throws, saying which file is wrong, when they do not load. */
  constructor(readonly certFile: string, readonly keyFile: string, private readonly log: Logger, readonly client?: ClientCertPolicy) {
    this.pair = loadPair(certFile, keyFile, client);
  }

  get pin(): string {
    return this.pair.pin;
  }

  /** Subjects of the client CA's certificates (for the log), or none. */
  get clientCaSubjects(): string[] {
    return this.pair.clientCa?.subjects ?? [];
  }

  /** A TLS server with the current pair; it takes each reloaded one for its new connections.
   * With a client CA it asks every guest for a certificate but lets the handshake finish without
   * one, or with one that does not verify: tlsChannel says which, and the guest is refused in
   * words (an ERROR frame) rather than by a bare TLS alert. */
  createServer(opts: tls.TlsOptions & net.ServerOpts, onSecure: (s: tls.TLSSocket) => void): tls.Server {
    const server = tls.createServer({
      ...opts,
      ...contextOf(this.pair),
      ...(this.client && { requestCert: true, rejectUnauthorized: false }),
    }, onSecure);
    // A guest that refuses the certificate (a wrong pin or CA), a port scan, a handshake timeout:
    // that connection's end, never the listener's.
    server.on('tlsClientError', (e, s) => {
      // The peer's address is gone with its socket by now; the listener logs it when it can.
      this.log.info({ ...(s.remoteAddress !== undefined && { peer: `${s.remoteAddress}:${s.remotePort}` }), err: e.message.trim() }, 'TLS handshake failed');
      s.destroy();
    });
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
    return server;
  }

  /** Reads the files again (SIGHUP). New connections get the new pair and client CA; sessions
   * already running keep theirs. Files that do not load are reported and the old ones all kept. */
  reload(): boolean {
    const log = this.log;
    let next: Pair;
    try {
      next = loadPair(this.certFile, this.keyFile, this.client);
    } catch (e) {
      log.error({ err: (e as Error).message, keeping: this.pair.pin }, 'TLS certificate reload failed; keeping the one in use');
      return false;
    }
    for (const s of this.servers) s.setSecureContext(contextOf(next));
    const changed = next.pin !== this.pair.pin;
    const clientCaChanged = next.clientCa !== undefined && !next.clientCa.pem.equals(this.pair.clientCa?.pem ?? Buffer.alloc(0));
    this.pair = next;
    log.info({ pin: next.pin, changed, ...(next.clientCa && { clientCa: next.clientCa.subjects, clientCaChanged }) }, 'TLS certificate reloaded');
    return true;
  }
}

/** How long a guest's half-closed relay may take to drain before it is torn down. */
const RELAY_DRAIN_MS = 5000;

/**
 * Pairs `guest` (an attaching TLS connection) with a fresh Unix socket and pipes cleartext both
 * ways; resolves with the other end, for the executor. Each side's failure ends both, and only
 * them; back-pressure holds in each direction (pipe pauses the reader while the writer is full).
 */
export async function relayCleartext(guest: tls.TLSSocket, dir: string, log: Logger): Promise<net.Socket> {
  // A listener of its own per connection pairs the two ends without any naming protocol; it is
  // in the private state directory and gone as soon as its one connection arrived.
  const path = join(dir, `tr-${randomBytes(6).toString('hex')}.sock`);
  const server = net.createServer();
  const near = await new Promise<{ mine: net.Socket; theirs: net.Socket }>((resolve, reject) => {
    let mine: net.Socket | undefined;
    let theirs: net.Socket | undefined;
    const fail = (e: Error): void => {
      mine?.destroy();
      theirs?.destroy();
      reject(e);
    };
    server.once('error', fail);
    server.once('connection', (s) => {
      theirs = s;
      s.on('error', () => {}); // replaced below once paired
      if (mine?.readyState === 'open') resolve({ mine, theirs });
    });
    server.listen(path, () => {
      mine = net.connect(path);
      mine.once('error', fail);
      mine.once('connect', () => {
        if (theirs) resolve({ mine: mine!, theirs });
      });
    });
  }).finally(() => {
    server.close();
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  });
  const { mine, theirs } = near;
  mine.removeAllListeners('error');
  theirs.removeAllListeners('error');
  mine.setNoDelay(true);
  let over = false;
  const end = (why: string, err?: Error): void => {
    if (over) return;
    over = true;
    if (err) log.info({ err: err.message }, `TLS relay: ${why}`);
    guest.destroy();
    mine.destroy();
    theirs.destroy();
  };
  guest.on('error', (e) => end('guest connection failed', e));
  mine.on('error', (e) => end('executor side failed', e));
  theirs.on('error', (e) => end('executor side failed before the handoff', e));
  // A side that closed ends the other gracefully, even when it went without an end of its own
  // (a reset): what it had sent still arrives. Whatever does not drain in time is torn down.
  const drainThenEnd = (other: net.Socket): void => {
    if (!other.destroyed) other.end();
    setTimeout(() => end('drain over'), RELAY_DRAIN_MS).unref();
  };
  guest.once('close', () => drainThenEnd(mine));
  mine.once('close', () => drainThenEnd(guest));
  guest.pipe(mine);
  mine.pipe(guest);
  if (guest.destroyed) end('the guest left before the relay started');
  return theirs;
}
