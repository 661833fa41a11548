#!/usr/bin/env python3
"""Known answers for the memory encryption engine, computed outside cocosim.

The key of KeyID k after its n-th programming is SHA-256 over 40 bytes:
"mee-keyid-key" zero-padded to 16, then seed, k and n as little-endian
64-bit words; its first 16 bytes are the AES-XTS-128 data key, the last 16
the tweak key. A 64-byte line at physical address pa is one XTS data unit
whose tweak is pa, little endian, zero-padded to 16 bytes.

  tools/mee/known_answer.py SEED KEYID GENERATION PA PLAINHEX
prints the line's ciphertext in hex (as `dram_read` shows it). Needs the
Debian package python3-cryptography (scripts/setup.sh installs it); ctest
`mee.known_answers_outside_cocosim` checks configs/mee-ciphertext.yaml with it.
"""
import hashlib
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def key(seed, keyid, generation):
    msg = b"mee-keyid-key".ljust(16, b"\0") + struct.pack("<QQQ", seed, keyid, generation)
    return hashlib.sha256(msg).digest()


def encrypt_line(seed, keyid, generation, pa, plain):
    tweak = struct.pack("<Q", pa) + bytes(8)
    enc = Cipher(algorithms.AES(key(seed, keyid, generation)), modes.XTS(tweak)).encryptor()
    return enc.update(plain) + enc.finalize()


if __name__ == "__main__":
    seed, keyid, gen, pa = (int(x, 0) for x in sys.argv[1:5])
    print(encrypt_line(seed, keyid, gen, pa, bytes.fromhex(sys.argv[5])).hex())
