// Who may connect to the Unix sockets the mediator creates (`--socket-group`, `--socket-mode`;
// docs/operations.md). A guest on the host (a container, a local user, a hypervisor's vsock
// backend) needs write permission on the socket file; the mediator itself often runs as a user of
// its own (deploy/systemd), so the guests' users are given access through a group.

import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync } from 'node:fs';

export interface SocketAccess {
  /** Permission bits of the socket file. */
  mode: number;
  /** Group id the socket file is given; the mediator's own group when undefined. */
  gid?: number | undefined;
}

/** `--socket-mode MODE`: octal permission bits such as 0660 or 660. Execute bits mean nothing on a
 * socket and set-id bits are refused, so a typo cannot pass unnoticed. */
export function parseSocketMode(text: string): number {
  const t = text.trim();
  if (!/^0?[0-7]{3}$/.test(t)) throw new Error(`--socket-mode ${text}: expected octal permissions such as 0660 (owner and group may connect) or 0666 (everyone)`);
  return parseInt(t, 8);
}

/** The numeric id of `group`, a name or a number. Names are looked up through NSS (`getent`), so
 * groups from LDAP or sssd work as they do for every other program on the host. */
export function resolveGroup(group: string): number {
  const g = group.trim();
  if (/^\d{1,10}$/.test(g)) return Number(g);
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}\$?$/.test(g)) throw new Error(`--socket-group ${group}: not a group name or number`);
  let line: string;
  try {
    line = execFileSync('getent', ['group', g], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    throw new Error(`--socket-group ${group}: no such group on this host (create it with 'groupadd ${g}', or name another)`);
  }
  const gid = Number(line.split(':')[2]);
  if (!Number.isInteger(gid)) throw new Error(`--socket-group ${group}: getent gave no group id`);
  return gid;
}

/** Gives a socket file just created its group and mode. Changing the group of a file takes being
 * its owner and a member of the group (or root): the error says so. */
export function applySocketAccess(file: string, access: SocketAccess): void {
  if (access.gid !== undefined) {
    try {
      chownSync(file, -1, access.gid);
    } catch (e) {
      throw new Error(`${file}: cannot give the socket group ${access.gid} (--socket-group): ${(e as Error).message}; the mediator's user must belong to that group`);
    }
  }
  chmodSync(file, access.mode);
}
