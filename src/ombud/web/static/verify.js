// ombud ledger explorer: verifies one event in this browser, trusting the server for nothing
// but the keys the page shows. RFC 9162 inclusion (SHA-256, WebCrypto), the log's C2SP
// signed-note signature and the witnesses' c2sp.org/tlog-cosignature cosignatures (Ed25519,
// WebCrypto), and the witness quorum. Where the browser has no Ed25519 it says so.
"use strict";

(() => {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });

  function fromBase64(text) {
    const raw = atob(text);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i += 1) out[i] = raw.charCodeAt(i);
    return out;
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  }

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
  async function rootFromInclusion(index, size, leafHash, proof) {
    if (!(index < size)) throw new Error(`index ${index} is not below the tree size ${size}`);
    let fn = index;
    let sn = size - 1;
    let r = leafHash;
    for (const p of proof) {
      if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
      if (sn === 0) throw new Error("the proof is longer than the tree allows");
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(concat(Uint8Array.of(1), p, r));
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await sha256(concat(Uint8Array.of(1), r, p));
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the proof is shorter than the tree needs");
    return r;
  }

  // c2sp.org/signed-note: the text, then a blank line, then "— <name> <base64>" lines.
  function parseNote(noteText) {
    const split = noteText.lastIndexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint has no signature block");
    const text = noteText.slice(0, split + 1);
    const signatures = [];
    for (const line of noteText.slice(split + 2).split("\n")) {
      if (line === "") continue;
      const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!match) throw new Error("a signature line is malformed");
      const blob = fromBase64(match[2]);
      if (blob.length < 5) throw new Error("a signature is too short");
      signatures.push({ name: match[1], keyId: blob.slice(0, 4), signature: blob.slice(4) });
    }
    const lines = text.split("\n");
    if (lines.length < 4) throw new Error("the checkpoint body has fewer than three lines");
    if (!/^[1-9][0-9]*$|^0$/.test(lines[1])) throw new Error("the checkpoint size is not a number");
    const root = fromBase64(lines[2]);
    if (root.length !== 32) throw new Error("the checkpoint root is not 32 bytes");
    return { text, origin: lines[0], size: Number(lines[1]), root, signatures };
  }

  // c2sp.org/signed-note verifier keys: <name>+<hex key ID>+<base64(type || key)>.
  async function parseVkey(vkey) {
    const first = vkey.indexOf("+");
    const second = vkey.indexOf("+", first + 1);
    const name = vkey.slice(0, first);
    const idHex = vkey.slice(first + 1, second);
    const material = fromBase64(vkey.slice(second + 1));
    const type = material[0];
    const key = material.slice(1);
    const hash = await sha256(concat(encoder.encode(name), Uint8Array.of(0x0a, type), key));
    if (toHex(hash.slice(0, 4)) !== idHex) throw new Error(`key ${name}: its key ID does not match`);
    return { name, type, key, keyId: hash.slice(0, 4), idHex };
  }

  async function ed25519Available() {
    try {
      await crypto.subtle.importKey("raw", new Uint8Array(32), { name: "Ed25519" }, false, [
        "verify",
      ]);
      return true;
    } catch (error) {
      return error.name !== "NotSupportedError";
    }
  }

  async function ed25519Verify(key, signature, message) {
    const imported = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, [
      "verify",
    ]);
    return crypto.subtle.verify({ name: "Ed25519" }, imported, signature, message);
  }

  function signatureBy(note, vkey) {
    return note.signatures.find((s) => s.name === vkey.name && equal(s.keyId, vkey.keyId));
  }

  async function verifyCosignature(note, vkey) {
    const found = signatureBy(note, vkey);
    if (!found) return { ok: false, why: "no cosignature by this witness" };
    if (found.signature.length !== 72) return { ok: false, why: "malformed cosignature" };
    const view = new DataView(found.signature.buffer, found.signature.byteOffset, 8);
    const timestamp = view.getBigUint64(0);
    const message = concat(encoder.encode(`cosignature/v1\ntime ${timestamp}\n`), encoder.encode(note.text));
    const ok = await ed25519Verify(vkey.key, found.signature.slice(8), message);
    const when = new Date(Number(timestamp) * 1000).toISOString();
    return ok ? { ok: true, when } : { ok: false, why: "the cosignature does not verify" };
  }

  async function run(material, fetchText, report) {
    const trust = material.trust;
    const entry = fromBase64(material.entry);
    const leafHash = await sha256(concat(Uint8Array.of(0), entry));
    report("leaf", true, `leaf hash SHA-256(0x00 ‖ entry) = ${toHex(leafHash).slice(0, 16)}…`);

    const note = parseNote(await fetchText("checkpoint"));
    if (note.origin !== trust.origin) {
      report("checkpoint", false, `the checkpoint is for origin ${note.origin}, not ${trust.origin}`);
      return "failed";
    }
    report("checkpoint", true, `checkpoint of ${note.origin}: tree size ${note.size}`);

    const proof = JSON.parse(await fetchText("proof", note.size));
    if (proof.index !== material.index || proof.size !== note.size) {
      report("inclusion", false, "the proof is for another entry or tree size");
      return "failed";
    }
    let root;
    try {
      root = await rootFromInclusion(material.index, note.size, leafHash, proof.proof.map(fromBase64));
    } catch (error) {
      report("inclusion", false, `the inclusion proof is malformed: ${error.message}`);
      return "failed";
    }
    if (!equal(root, note.root)) {
      report("inclusion", false, "the inclusion proof does not lead to the checkpoint's root");
      return "failed";
    }
    report("inclusion", true, `entry ${material.index} is in the tree: ${proof.proof.length} hashes lead to the root`);

    if (!(await ed25519Available())) {
      report("signatures", null, "this browser has no Ed25519 in WebCrypto: the log's signature and the witnesses' cosignatures were NOT checked here; check them with ombud verify");
      return "partial";
    }
    const logKey = await parseVkey(trust.logKey);
    const logSignature = signatureBy(note, logKey);
    if (!logSignature || !(await ed25519Verify(logKey.key, logSignature.signature, encoder.encode(note.text)))) {
      report("log-signature", false, `the log's signature (key ${logKey.name}) does not verify`);
      return "failed";
    }
    report("log-signature", true, `signed by the log's key ${logKey.name} (${logKey.idHex})`);

    let cosigned = 0;
    for (const vkeyText of trust.witnessKeys) {
      const vkey = await parseVkey(vkeyText);
      const outcome = await verifyCosignature(note, vkey);
      if (outcome.ok) {
        cosigned += 1;
        report(`witness-${vkey.name}`, true, `cosigned by ${vkey.name} at ${outcome.when}`);
      } else {
        report(`witness-${vkey.name}`, false, `${vkey.name}: ${outcome.why}`);
      }
    }
    if (cosigned < trust.quorum) {
      report("quorum", false, `${cosigned} valid cosignature(s); the quorum is ${trust.quorum}`);
      return "failed";
    }
    report("quorum", true, `${cosigned} of ${trust.witnessKeys.length} witnesses cosigned; the quorum is ${trust.quorum}`);
    return "verified";
  }

  const VERDICTS = {
    verified: "Verified in this browser: the entry is in the log's witnessed checkpoint.",
    failed: "NOT verified: a check failed (see above). Do not trust this entry's place in the log.",
    partial: "Partly verified: inclusion holds, but this browser could not check signatures.",
    error: "NOT verified: the check could not run.",
  };

  async function start(section) {
    const material = JSON.parse(document.getElementById("ombud-proof").textContent);
    const list = section.querySelector("#verify-results");
    const verdict = section.querySelector("#verify-verdict");
    const shown = document.getElementById("entry-text");
    list.replaceChildren();
    verdict.dataset.state = "running";
    verdict.textContent = "Verifying…";
    try {
      shown.textContent = decoder.decode(fromBase64(material.entry));
    } catch (error) {
      shown.textContent = "(the entry is not UTF-8 text)";
    }
    const report = (check, ok, text) => {
      const item = document.createElement("li");
      item.dataset.check = check;
      item.dataset.ok = ok === null ? "unknown" : String(ok);
      const mark = document.createElement("strong");
      mark.textContent = ok === null ? "Not checked: " : ok ? "Passed: " : "FAILED: ";
      item.append(mark, text);
      list.append(item);
    };
    const fetchText = async (what, size) => {
      const url = what === "checkpoint" ? section.dataset.checkpoint : `${section.dataset.proof}&size=${size}`;
      const response = await fetch(url, { cache: "no-store" });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      return response.text();
    };
    let state;
    try {
      state = await run(material, fetchText, report);
    } catch (error) {
      report("error", false, error.message);
      state = "error";
    }
    verdict.dataset.state = state;
    verdict.textContent = VERDICTS[state];
  }

  document.addEventListener("DOMContentLoaded", () => {
    const section = document.getElementById("verify");
    if (!section) return;
    section.hidden = false;
    const button = section.querySelector("#verify-again");
    button.addEventListener("click", () => start(section));
    start(section);
  });
})();
