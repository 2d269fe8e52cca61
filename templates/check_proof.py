#!/usr/bin/env python3
"""Checks a notarium evidence bundle's ledger proof with Python's standard library only.

- decodes the ledger entry (docs/ledger-format.md) and checks that it names the SHA-256 of
  the document, the time-stamp token and the signer certificate, and the signature bytes;
- recomputes the RFC 6962 leaf hash and the RFC 9162 inclusion proof up to the checkpoint's
  root hash (C2SP tlog-proof);
- optionally checks the RFC 9162 consistency proof to a later checkpoint;
- writes the checkpoint's signed message, signature and key as files, so that
  `openssl pkeyutl -verify -rawin` checks the Ed25519 signatures of the log and witnesses
  (Python's standard library has no Ed25519).
Exit status 0 when every check passes, 1 otherwise.
"""
import argparse, base64, hashlib, json, os, struct, sys

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def sha256(b):
    return hashlib.sha256(b).digest()

def decode_entry(e):
    """The fields of a version 1 entry that bind the other files."""
    if len(e) < 99 or e[0] != 1:
        fail("not a version 1 ledger entry")
    f = {"cert_fingerprint": e[34:66], "document_sha256": e[66:98]}
    at = 99 + (32 if e[98] == 1 else 0)
    at += 1  # signer
    (n,) = struct.unpack(">H", e[at:at + 2])
    f["signature"] = e[at + 2:at + 2 + n]
    at += 2 + n
    f["token_sha256"] = e[at:at + 32]
    return f

def read_proof(text):
    head, checkpoint = text.split("\n\n", 1)
    lines = head.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        fail("not a tlog-proof")
    lines = lines[1:]
    if lines[0].startswith("extra "):
        lines = lines[1:]
    index = int(lines[0][len("index "):])
    hashes = [base64.b64decode(h) for h in lines[1:]]
    return index, hashes, checkpoint

def split_note(note):
    cut = note.rindex("\n\n")
    text, sigs = note[:cut + 1], note[cut + 2:].rstrip("\n").split("\n")
    body = text.rstrip("\n").split("\n")
    return text, int(body[1]), base64.b64decode(body[2]), sigs

def node(l, r):
    return sha256(b"\x01" + l + r)

def root_from_inclusion(index, size, leaf, proof):
    # RFC 9162 section 2.1.3.2
    if len(leaf) != 32 or any(len(p) != 32 for p in proof):
        fail("hashes must be 32 bytes")
    if index >= size:
        fail("index beyond tree size")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            fail("inclusion proof too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        fail("inclusion proof too short")
    return r

def check_consistency(size1, size2, root1, root2, proof):
    # RFC 9162 section 2.1.4.2
    if size1 == 0:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if any(len(h) != 32 for h in [root1, root2] + proof):
        return False
    if size1 == 0 or size1 > size2 or not proof:
        return False
    if size1 & (size1 - 1) == 0:
        proof = [root1] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn % 2 == 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == root1 and sr == root2

def parse_vkey(v):
    name, key_id, key = v.strip().split("+", 2)
    raw = base64.b64decode(key)
    if sha256(name.encode() + b"\n" + raw)[:4] != bytes.fromhex(key_id):
        fail("key id of %s does not match its key" % name)
    return name, bytes.fromhex(key_id), raw[0], raw[1:]

def ed25519_pem(public):
    der = bytes.fromhex("302a300506032b6570032100") + public
    return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % base64.b64encode(der).decode()

def find_sig(sigs, name, key_id):
    for line in sigs:
        who, b64 = line[len("\u2014 "):].rsplit(" ", 1)
        raw = base64.b64decode(b64)
        if who == name and raw[:4] == key_id:
            return raw[4:]
    return None

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)

def export_signatures(out, prefix, text, sigs, log_vkey, witness_vkeys):
    name, kid, alg, pub = parse_vkey(log_vkey)
    sig = find_sig(sigs, name, kid)
    if sig is None or alg != 1 or len(sig) != 64:
        fail("%s: no signature by the log key %s" % (prefix, name))
    write(os.path.join(out, "log-key.pem"), ed25519_pem(pub).encode())
    write(os.path.join(out, prefix + ".msg"), text.encode())
    write(os.path.join(out, prefix + ".sig"), sig)
    for i, wk in enumerate(witness_vkeys):
        name, kid, alg, pub = parse_vkey(wk)
        sig = find_sig(sigs, name, kid)
        if sig is None:
            continue
        (t,) = struct.unpack(">Q", sig[:8])
        msg = "cosignature/v1\ntime %d\n%s" % (t, text)
        write(os.path.join(out, "witness-%d-key.pem" % i), ed25519_pem(pub).encode())
        write(os.path.join(out, "%s-witness-%d.msg" % (prefix, i)), msg.encode())
        write(os.path.join(out, "%s-witness-%d.sig" % (prefix, i)), sig[8:])

def main():
    a = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    a.add_argument("entry"); a.add_argument("proof")
    for opt in ("document", "token", "certificate", "signature", "log-key", "witness-policy",
                "consistency", "later", "out"):
        a.add_argument("--" + opt)
    a.add_argument("--entry-number", type=int, default=0)
    args = a.parse_args()
    entry = open(args.entry, "rb").read()
    fields = decode_entry(entry)
    if args.document and sha256(open(args.document, "rb").read()) != fields["document_sha256"]:
        fail("the document's SHA-256 is not the one in the entry")
    if args.token and sha256(open(args.token, "rb").read()) != fields["token_sha256"]:
        fail("the token's SHA-256 is not the one in the entry")
    if args.certificate:
        pem = open(args.certificate).read().split("-----")[2]
        if sha256(base64.b64decode("".join(pem.split()))) != fields["cert_fingerprint"]:
            fail("the certificate's SHA-256 is not the one in the entry")
    if args.signature and open(args.signature, "rb").read() != fields["signature"]:
        fail("the signature is not the one in the entry")
    index, proof, note = read_proof(open(args.proof).read())
    text, size, root, sigs = split_note(note)
    if root_from_inclusion(index, size, sha256(b"\x00" + entry), proof) != root:
        fail("the inclusion proof does not lead to the checkpoint's root")
    print("OK: entry %d is in the tree of size %d, root %s" % (index, size, base64.b64encode(root).decode()))
    out = args.out or os.path.dirname(args.entry)
    witnesses = []
    if args.witness_policy:
        witnesses = [l.split(" ", 1)[1] for l in open(args.witness_policy).read().splitlines()
                     if l.startswith("witness ")]
    if args.log_key:
        export_signatures(out, "checkpoint", text, sigs, open(args.log_key).read(), witnesses)
    if args.consistency:
        c = json.load(open(args.consistency))
        item = [p for p in c["proofs"] if p["entry"] == args.entry_number][0]
        text2, size2, root2, sigs2 = split_note(open(args.later).read())
        hashes = [base64.b64decode(h) for h in item["hashes"]]
        if item["old_size"] != size or item["new_size"] != size2 or not check_consistency(size, size2, root, root2, hashes):
            fail("the consistency proof does not lead from size %d to size %d" % (size, size2))
        print("OK: the tree of size %d is a prefix of the later tree of size %d" % (size, size2))
        if args.log_key:
            export_signatures(out, "later", text2, sigs2, open(args.log_key).read(), witnesses)

if __name__ == "__main__":
    main()
