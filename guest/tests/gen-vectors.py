#!/usr/bin/env python3
"""Writes test/vectors/protocol.json, the shared wire test vectors (format: test/vectors/README.md).

An encoder written independently of guest/common/impl/wire.c and src/protocol/, from
docs/protocol.md alone, so that both codecs are checked against a third reading of the spec.
Run from the repository root: python3 guest/tests/gen-vectors.py
"""
import json
import struct

MAX_PAYLOAD = 16 * 1024 * 1024 + 64 * 1024
MAGIC = 0x55504756


def hdr(length, ftype, flags=0, fid=0, op=0):
    return struct.pack('<IHHII', length, ftype, flags, fid, op)


def frame(ftype, payload, flags=0, fid=0, op=0):
    return hdr(len(payload), ftype, flags, fid, op) + payload


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack('<H', len(b)) + b


def hello_payload(h):
    return (struct.pack('<IHHII', h.get('magic', MAGIC), h['major'], h['minor'], h['guest_flags'], h['pid'])
            + s(h['token']) + s(h['host']) + s(h['program']))


def welcome_payload(w):
    out = struct.pack('<HHIQI', w['major'], w['minor'], w['host_flags'], int(w['session']), w['driver_version'])
    out += s(w['vm_name']) + struct.pack('<I', len(w['devices']))
    for d in w['devices']:
        out += s(d['name']) + bytes.fromhex(d['uuid']) + struct.pack('<Q', int(d['total_mem']))
        out += struct.pack('<IIII', d['pci_domain'], d['pci_bus'], d['pci_device'], len(d['attributes']))
        out += b''.join(struct.pack('<i', a) for a in d['attributes'])
    if w['minor'] >= 1:  # the extension block: u32 count, then (u16 tag, u32 len, bytes) each
        exts = w.get('extensions', [])
        out += struct.pack('<I', len(exts))
        for tag, data in exts:
            out += struct.pack('<HI', tag, len(data)) + data
    return out


cases = []


def valid(name, ftype, payload, fields, flags=0, fid=0, op=0):
    f = {'type': ftype, 'flags': flags, 'id': fid, 'op': op}
    f.update(fields)
    cases.append({'name': name, 'hex': frame(ftype, payload, flags, fid, op).hex(), 'frame': f})


def invalid(name, raw, error, note):
    cases.append({'name': name, 'hex': raw.hex(), 'expect': 'error', 'error': error, 'note': note})


# ---- valid frames ----
h = {'magic': MAGIC, 'major': 1, 'minor': 0, 'guest_flags': 0, 'pid': 4242,
     'token': 'tok-7f3a', 'host': 'guest-vm-1', 'program': 'ollama'}
valid('hello', 1, hello_payload(h), h)
h2 = dict(h, pid=1, guest_flags=1, token='', host='', program='')
valid('hello_empty_strings', 1, hello_payload(h2), h2)
h3 = dict(h, pid=0xFFFFFFFF, token='ünï-çødé', program='p' * 4096)
valid('hello_utf8_and_max_string', 1, hello_payload(h3), h3)

attrs = [1024, 1024, 64, 64, 2147483647, 65535, 65535, 49152, 65536, 32, -2147483648, 65536, 1410000, 512]
dev0 = {'name': 'vgpu softgpu (CPU emulation)', 'uuid': '00112233445566778899aabbccddeeff',
        'total_mem': '17179869184', 'pci_domain': 0, 'pci_bus': 0x65, 'pci_device': 0, 'attributes': attrs}
dev1 = {'name': 'NVIDIA H100 80GB HBM3', 'uuid': 'f0e1d2c3b4a5968778695a4b3c2d1e0f',
        'total_mem': '85899345920', 'pci_domain': 1, 'pci_bus': 0xb3, 'pci_device': 0x1f, 'attributes': []}
w = {'major': 1, 'minor': 0, 'host_flags': 1, 'session': '81985529216486895', 'driver_version': 13000,
     'vm_name': 'vm-a', 'devices': [dev0]}
valid('welcome_one_device', 2, welcome_payload(w), w)
w2 = dict(w, host_flags=0, session='18446744073709551615', vm_name='', devices=[dev0, dev1])
valid('welcome_two_devices_max_session', 2, welcome_payload(w2), w2)
w3 = dict(w, devices=[], session='1', minor=3)
valid('welcome_no_devices', 2, welcome_payload(w3), w3)
w4 = dict(w, minor=1)
valid('welcome_minor1_empty_extensions', 2, welcome_payload(w4), w4)

valid('call_with_context', 3, struct.pack('<Q', 0x1000) + struct.pack('<Q', 1 << 20),
      {'ctx': '4096', 'args_hex': struct.pack('<Q', 1 << 20).hex()}, fid=7, op=0x0210)
valid('call_no_context_no_args', 3, struct.pack('<Q', 0), {'ctx': '0', 'args_hex': ''}, fid=1, op=0x0131)
args = struct.pack('<Q', 0x7f0000001000) + struct.pack('<Q', 3) + b'abc' + struct.pack('<Q', 0)
valid('call_noreply', 3, struct.pack('<Q', 0x1234) + args,
      {'ctx': '4660', 'args_hex': args.hex()}, flags=1, fid=0xFFFFFFFF, op=0x0202)
args = struct.pack('<Q', 0x7f0000001000) + struct.pack('<Q', 2) + b'\x00\xff'
valid('call_more_piece', 3, struct.pack('<Q', 0x1000) + args,
      {'ctx': '4096', 'args_hex': args.hex()}, flags=2, fid=9, op=0x0200)

valid('reply_success_with_outputs', 4, struct.pack('<I', 0) + struct.pack('<Q', 0x1001),
      {'result': 0, 'outputs_hex': struct.pack('<Q', 0x1001).hex()}, fid=7)
valid('reply_error_no_outputs', 4, struct.pack('<I', 201), {'result': 201, 'outputs_hex': ''}, fid=8)
valid('reply_more_first_piece', 4, struct.pack('<I', 0) + b'\x01\x02\x03',
      {'result': 0, 'outputs_hex': '010203'}, flags=2, fid=10)

e = {'code': 3, 'message': 'unknown or missing VM token'}
valid('error_auth', 5, struct.pack('<I', 3) + s(e['message']), e, op=3)
e2 = {'code': 1, 'message': ''}
valid('error_protocol_empty_message', 5, struct.pack('<I', 1) + s(''), e2, op=1)

valid('attach', 9, b'', {}, fid=0)
valid('attached_ok', 10, struct.pack('<I', 0) + s('ok'), {'code': 0, 'message': 'ok'})
valid('attached_refused', 10, struct.pack('<I', 4) + s('pool full'), {'code': 4, 'message': 'pool full'}, fid=3)

valid('ping', 6, b'\xde\xad\xbe\xef', {'data_hex': 'deadbeef'}, fid=3)
valid('pong_empty', 7, b'', {'data_hex': ''}, fid=3)

# NOTIFY (protocol minor 3): op 1/2 carry raw output bytes, op 3 (SHUTDOWN) has ERROR's layout.
valid('notify_stdout', 8, b'hi 7\n', {'data_hex': b'hi 7\n'.hex()}, op=1)
valid('notify_stderr_empty', 8, b'', {'data_hex': ''}, op=2)
sd = {'grace_ms': 30000, 'message': 'the mediator is stopping'}
valid('notify_shutdown', 8, struct.pack('<I', 30000) + s(sd['message']), sd, op=3)

# ---- invalid frames ----
invalid('truncated_header', hdr(0, 6)[:10], 'truncated', 'fewer than 16 header bytes')
invalid('truncated_payload', hdr(20, 4, 0, 1) + b'\x00' * 5, 'truncated', 'len says 20, 5 present')
invalid('oversized_len', hdr(MAX_PAYLOAD + 1, 3, 0, 1, 0x200), 'oversized', 'len over 16 MiB + 64 KiB')
invalid('unknown_type', frame(13, b''), 'type', 'type 13 does not exist')
invalid('type_zero', frame(0, b''), 'type', 'type 0 does not exist')
invalid('noreply_on_reply', frame(4, struct.pack('<I', 0), flags=1, fid=1), 'flags', 'NOREPLY only on CALL')
invalid('more_on_hello', frame(1, hello_payload(h), flags=2), 'flags', 'no flags on HELLO')
invalid('unknown_flag_on_call', frame(3, struct.pack('<Q', 0), flags=4, fid=1, op=1), 'flags', 'flag 0x4 undefined')
invalid('bad_magic', frame(1, hello_payload(dict(h, magic=0x12345678))), 'magic', 'HELLO magic must be VGPU')
invalid('short_hello', frame(1, hello_payload(h)[:6]), 'short_payload', 'HELLO cut inside its fixed fields')
bad = struct.pack('<IHHII', MAGIC, 1, 0, 0, 1) + struct.pack('<H', 100) + b'abc'
invalid('hello_string_past_end', frame(1, bad), 'string_past_end', 'token length 100, 3 bytes left')
bad = struct.pack('<IHHII', MAGIC, 1, 0, 0, 1) + struct.pack('<H', 5000) + b'x' * 5000 + s('') + s('')
invalid('hello_string_too_long', frame(1, bad), 'string_too_long', 'strings are at most 4096 bytes')
wp = welcome_payload(w)
invalid('welcome_short', frame(2, wp[:-2]), 'short_payload', 'last attribute cut')
bad = struct.pack('<HHIQI', 1, 0, 0, 1, 13000) + struct.pack('<H', 40) + b'vm'
invalid('welcome_string_past_end', frame(2, bad), 'string_past_end', 'vm_name length 40, 2 bytes left')
# The WELCOME extension block (minor >= 1). Driver string: tag 1, at most 79 bytes.
w5 = dict(w, minor=1)
invalid('welcome_minor1_without_extensions', frame(2, welcome_payload(dict(w, minor=0))[:2]
        + struct.pack('<H', 1) + welcome_payload(dict(w, minor=0))[4:]), 'short_payload',
        'minor 1 promises the extension block after the devices; it is missing')
invalid('welcome_extension_cut', frame(2, welcome_payload(w5)[:-4] + struct.pack('<I', 1) + struct.pack('<H', 1)),
        'short_payload', 'one extension announced, its u32 length missing')
invalid('welcome_extension_past_end', frame(2, welcome_payload(w5)[:-4] + struct.pack('<IHI', 1, 1, 100) + b'580'),
        'string_past_end', 'extension length 100, 3 bytes left')
invalid('welcome_driver_string_too_long', frame(2, welcome_payload(dict(w5, extensions=[(1, b'5' * 80)]))),
        'string_too_long', 'the driver version string is at most 79 bytes')
invalid('welcome_minor0_trailing_bytes', frame(2, welcome_payload(w) + struct.pack('<I', 0)), 'trailing',
        'a minor-0 WELCOME ends after the devices')
invalid('hello_trailing_bytes', frame(1, hello_payload(h) + b'\x00'), 'trailing', 'a byte after the last field')
invalid('attach_with_flags', frame(9, b'', flags=1), 'flags', 'no flags on ATTACH')
invalid('attached_short', frame(10, b'\x00\x00'), 'short_payload', 'ATTACHED needs u32 status')
invalid('attached_trailing_bytes', frame(10, struct.pack('<I', 0) + s('ok') + b'!'), 'trailing', 'a byte after the message')
invalid('error_short', frame(5, b'\x03\x00', op=3), 'short_payload', 'ERROR needs u32 code')
bad = struct.pack('<I', 3) + struct.pack('<H', 10) + b'abc'
invalid('error_string_past_end', frame(5, bad, op=3), 'string_past_end', 'message length 10, 3 bytes left')

invalid('status_with_flags', frame(11, b'', flags=1, fid=4), 'flags', 'no flags on STATUS')
invalid('notify_with_flags', frame(8, b'', flags=2, op=1), 'flags', 'no flags on NOTIFY')
invalid('notify_shutdown_short', frame(8, b'\x30\x75', op=3), 'short_payload', 'SHUTDOWN needs u32 grace_ms')
invalid('notify_shutdown_trailing', frame(8, struct.pack('<I', 1) + s('x') + b'!', op=3), 'trailing',
        'a byte after the message')

with open('test/vectors/protocol.json', 'w') as f:
    json.dump(cases, f, indent=1, ensure_ascii=False)
    f.write('\n')
print(f'{len(cases)} cases')


# ---- test/vectors/status.json: STATUS (11) and STATUS_REPLY (12), protocol minor 2 ----
# A STATUS_REPLY case's `frame` has `window_ms`, `devices` (each {gpu_pct, mem_pct, mem_used,
# processes: [{pid, used}]}), and `board` (a list of {temp_c, power_mw, power_limit_mw, sm_mhz,
# mem_mhz, fan_pct}, one per device) or null; `unknown_ext` lists extension entries of tags a
# decoder must skip, as [tag, data_hex]. 64-bit values are decimal strings.
BOARD_KEYS = ('temp_c', 'power_mw', 'power_limit_mw', 'sm_mhz', 'mem_mhz', 'fan_pct')


def status_payload(st):
    out = struct.pack('<II', st['window_ms'], len(st['devices']))
    for d in st['devices']:
        out += struct.pack('<IIQI', d['gpu_pct'], d['mem_pct'], int(d['mem_used']), len(d['processes']))
        for p in d['processes']:
            out += struct.pack('<IQ', p['pid'], int(p['used']))
    exts = []
    if st.get('board') is not None:
        exts.append((1, b''.join(struct.pack('<' + 'I' * 6, *[b[k] for k in BOARD_KEYS]) for b in st['board'])))
    for tag, data in st.get('unknown_ext', []):
        exts.append((tag, bytes.fromhex(data)))
    out += struct.pack('<I', len(exts))
    for tag, data in exts:
        out += struct.pack('<HI', tag, len(data)) + data
    return out


cases = []
valid('status_request', 11, b'', {}, fid=5)
st = {'window_ms': 2000, 'devices': [
    {'gpu_pct': 87, 'mem_pct': 3, 'mem_used': '104857600',
     'processes': [{'pid': 4242, 'used': '67108864'}, {'pid': 4343, 'used': '37748736'}]}], 'board': None}
valid('status_reply_one_device_two_processes', 12, status_payload(st), st, fid=5)
st0 = {'window_ms': 0, 'devices': [], 'board': None}
valid('status_reply_no_devices', 12, status_payload(st0), st0, fid=0xFFFFFFFF)
st2 = {'window_ms': 1000, 'devices': [
    {'gpu_pct': 100, 'mem_pct': 100, 'mem_used': '85899345920', 'processes': [{'pid': 0xFFFFFFFF, 'used': '85899345920'}]},
    {'gpu_pct': 0, 'mem_pct': 0, 'mem_used': '0', 'processes': []}],
    'board': [{'temp_c': 41, 'power_mw': 71000, 'power_limit_mw': 700000, 'sm_mhz': 1980, 'mem_mhz': 2619, 'fan_pct': 0xFFFFFFFF},
              {'temp_c': 0xFFFFFFFF, 'power_mw': 0xFFFFFFFF, 'power_limit_mw': 0xFFFFFFFF, 'sm_mhz': 0xFFFFFFFF,
               'mem_mhz': 0xFFFFFFFF, 'fan_pct': 0xFFFFFFFF}],
    'unknown_ext': [[0x7f01, '7a7a']]}
valid('status_reply_two_devices_board_and_unknown_tag', 12, status_payload(st2), st2, fid=6)

sp = status_payload(st)
invalid('status_with_payload', frame(11, b'\x00', fid=5), 'trailing', 'STATUS carries no payload')
invalid('status_reply_short', frame(12, sp[:-6], fid=5), 'short_payload', 'the extension count and a process cut')
invalid('status_reply_trailing', frame(12, sp + b'\x00', fid=5), 'trailing', 'a byte after the extension block')
invalid('status_reply_gpu_over_100', frame(12, status_payload(dict(st, devices=[dict(st['devices'][0], gpu_pct=101)])), fid=5),
        'limit', 'utilization is a percentage')
invalid('status_reply_too_many_devices', frame(12, struct.pack('<II', 2000, 65) + b'\x00' * (65 * 20 + 4), fid=5), 'limit',
        'at most 64 devices')
invalid('status_reply_too_many_processes', frame(12, struct.pack('<IIIIQI', 2000, 1, 0, 0, 0, 1025) + b'\x00' * (1025 * 12 + 4), fid=5),
        'limit', 'at most 1024 processes per device')
invalid('status_reply_process_count_past_end', frame(12, struct.pack('<IIIIQI', 2000, 1, 0, 0, 0, 1000) + b'\x00' * 16, fid=5),
        'short_payload', '1000 processes announced, 16 bytes left')
invalid('status_reply_extension_past_end', frame(12, sp[:-4] + struct.pack('<IHI', 1, 0x7f01, 50) + b'zz', fid=5),
        'string_past_end', 'extension length 50, 2 bytes left')
invalid('status_reply_board_wrong_size', frame(12, sp[:-4] + struct.pack('<IHI', 1, 1, 8) + b'\x00' * 8, fid=5),
        'short_payload', 'a board extension holds 24 bytes per device')

with open('test/vectors/status.json', 'w') as f:
    json.dump(cases, f, indent=1, ensure_ascii=False)
    f.write('\n')
print(f'{len(cases)} status cases')
