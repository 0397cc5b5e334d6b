//! Consensus script verification with Bitcoin Core 26's interpreter (`libbitcoinconsensus`,
//! vendored by the `bitcoinconsensus` crate and built with g++).
//!
//! [`verify_input`] always passes the outputs spent by *every* input of the transaction, so the
//! library can compute BIP341 sighashes and checks Taproot spends (flags
//! `VERIFY_ALL_PRE_TAPROOT | VERIFY_TAPROOT`). The regtest chain calls it (through the addon)
//! for every input of every transaction it accepts.

use crate::error::{EngineError, ErrorCode, Result};

/// Flags: everything Core enforces as consensus today (P2SH, DERSIG, NULLDUMMY, CLTV, CSV,
/// witness) plus Taproot.
pub const VERIFY_FLAGS: u32 =
    bitcoinconsensus::VERIFY_ALL_PRE_TAPROOT | bitcoinconsensus::VERIFY_TAPROOT;

/// Verifies input `input_index` of the serialized transaction `tx` (witness serialization
/// allowed) against the outputs it and its sibling inputs spend.
///
/// `spent_outputs[i]` is `(scriptPubKey, value in satoshis)` of the output spent by input `i`;
/// it must have one entry per input of `tx`, in input order.
///
/// Errors: [`ErrorCode::BadArgument`] for a malformed transaction, an index out of range, a
/// value above `i64::MAX`, or spent outputs that do not match the inputs;
/// [`ErrorCode::InvalidSignature`] when the script (signature, amount, key…) fails.
pub fn verify_input(tx: &[u8], input_index: usize, spent_outputs: &[(Vec<u8>, u64)]) -> Result<()> {
    if tx.is_empty() {
        return Err(EngineError::bad_arg("transaction is empty"));
    }
    if u32::try_from(tx.len()).is_err() {
        return Err(EngineError::bad_arg("transaction is too large"));
    }
    let Some((spk, amount)) = spent_outputs.get(input_index) else {
        return Err(EngineError::bad_arg(format!(
            "input {input_index}: no spent output given for it ({} spent outputs given)",
            spent_outputs.len()
        )));
    };
    let mut utxos = Vec::with_capacity(spent_outputs.len());
    for (i, (script, value)) in spent_outputs.iter().enumerate() {
        let value = i64::try_from(*value).map_err(|_| {
            EngineError::bad_arg(format!("spent output {i}: value {value} is out of range"))
        })?;
        let len = u32::try_from(script.len()).map_err(|_| {
            EngineError::bad_arg(format!("spent output {i}: scriptPubKey is too large"))
        })?;
        // The library reads these pointers during the call below only; `spent_outputs` outlives it.
        utxos.push(bitcoinconsensus::Utxo {
            script_pubkey: script.as_ptr(),
            script_pubkey_len: len,
            value,
        });
    }
    bitcoinconsensus::verify_with_flags(spk, *amount, tx, Some(&utxos), input_index, VERIFY_FLAGS)
        .map_err(|e| map_error(input_index, e))
}

fn map_error(input_index: usize, e: bitcoinconsensus::Error) -> EngineError {
    use bitcoinconsensus::Error as E;
    let (code, what) = match e {
        // ERR_OK in Core: the call itself was fine and the script evaluated to false / failed.
        E::ERR_SCRIPT => (ErrorCode::InvalidSignature, "script verification failed"),
        E::ERR_TX_INDEX => (
            ErrorCode::BadArgument,
            "input index out of range for the transaction",
        ),
        E::ERR_TX_SIZE_MISMATCH => (
            ErrorCode::BadArgument,
            "transaction has trailing or missing bytes",
        ),
        E::ERR_TX_DESERIALIZE => (ErrorCode::BadArgument, "transaction does not deserialize"),
        E::ERR_AMOUNT_REQUIRED => (ErrorCode::BadArgument, "spent amount required"),
        E::ERR_INVALID_FLAGS => (ErrorCode::BadArgument, "invalid verification flags"),
        E::ERR_SPENT_OUTPUTS_REQUIRED => (ErrorCode::BadArgument, "spent outputs required"),
        E::ERR_SPENT_OUTPUTS_MISMATCH => (
            ErrorCode::BadArgument,
            "spent outputs do not match the transaction's inputs (one per input required)",
        ),
    };
    EngineError::new(code, format!("input {input_index}: {what} ({e:?})"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Real spends built here by hand (serialization, BIP143 and BIP341 sighashes, k256
    //! signatures), then checked by Core's interpreter.
    use super::*;
    use k256::ecdsa::signature::hazmat::PrehashSigner;
    use k256::elliptic_curve::ff::PrimeField;
    use sha2::{Digest, Sha256};

    fn sha256(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }
    fn sha256d(b: &[u8]) -> [u8; 32] {
        sha256(&sha256(b))
    }
    fn hash160(b: &[u8]) -> [u8; 20] {
        use ripemd::Ripemd160;
        Ripemd160::digest(sha256(b)).into()
    }
    fn tagged(tag: &str, msg: &[u8]) -> [u8; 32] {
        let t = sha256(tag.as_bytes());
        Sha256::new()
            .chain_update(t)
            .chain_update(t)
            .chain_update(msg)
            .finalize()
            .into()
    }
    fn varint(out: &mut Vec<u8>, n: usize) {
        assert!(n < 0xfd);
        out.push(n as u8);
    }
    fn with_len(out: &mut Vec<u8>, b: &[u8]) {
        varint(out, b.len());
        out.extend_from_slice(b);
    }

    struct Input {
        prev_txid: [u8; 32],
        vout: u32,
        sequence: u32,
        witness: Vec<Vec<u8>>,
    }
    struct Tx {
        version: u32,
        inputs: Vec<Input>,
        outputs: Vec<(u64, Vec<u8>)>,
        locktime: u32,
    }

    impl Tx {
        fn outpoint(i: &Input) -> Vec<u8> {
            let mut o = i.prev_txid.to_vec();
            o.extend_from_slice(&i.vout.to_le_bytes());
            o
        }
        fn outputs_bytes(&self) -> Vec<u8> {
            let mut o = Vec::new();
            for (v, spk) in &self.outputs {
                o.extend_from_slice(&v.to_le_bytes());
                with_len(&mut o, spk);
            }
            o
        }
        fn serialize(&self) -> Vec<u8> {
            let mut o = self.version.to_le_bytes().to_vec();
            o.extend_from_slice(&[0x00, 0x01]);
            varint(&mut o, self.inputs.len());
            for i in &self.inputs {
                o.extend_from_slice(&Self::outpoint(i));
                varint(&mut o, 0); // empty scriptSig
                o.extend_from_slice(&i.sequence.to_le_bytes());
            }
            varint(&mut o, self.outputs.len());
            o.extend_from_slice(&self.outputs_bytes());
            for i in &self.inputs {
                varint(&mut o, i.witness.len());
                for w in &i.witness {
                    with_len(&mut o, w);
                }
            }
            o.extend_from_slice(&self.locktime.to_le_bytes());
            o
        }
        /// BIP143, SIGHASH_ALL, P2WPKH script code.
        fn sighash_v0(&self, index: usize, pkh: &[u8; 20], amount: u64) -> [u8; 32] {
            let prevouts: Vec<u8> = self.inputs.iter().flat_map(Self::outpoint).collect();
            let seqs: Vec<u8> = self
                .inputs
                .iter()
                .flat_map(|i| i.sequence.to_le_bytes())
                .collect();
            let mut p = self.version.to_le_bytes().to_vec();
            p.extend_from_slice(&sha256d(&prevouts));
            p.extend_from_slice(&sha256d(&seqs));
            p.extend_from_slice(&Self::outpoint(&self.inputs[index]));
            p.extend_from_slice(&[0x19, 0x76, 0xa9, 0x14]);
            p.extend_from_slice(pkh);
            p.extend_from_slice(&[0x88, 0xac]);
            p.extend_from_slice(&amount.to_le_bytes());
            p.extend_from_slice(&self.inputs[index].sequence.to_le_bytes());
            p.extend_from_slice(&sha256d(&self.outputs_bytes()));
            p.extend_from_slice(&self.locktime.to_le_bytes());
            p.extend_from_slice(&1u32.to_le_bytes());
            sha256d(&p)
        }
        /// BIP341 key path, SIGHASH_DEFAULT, no annex.
        fn sighash_v1(&self, index: usize, spent: &[(Vec<u8>, u64)]) -> [u8; 32] {
            let prevouts: Vec<u8> = self.inputs.iter().flat_map(Self::outpoint).collect();
            let amounts: Vec<u8> = spent.iter().flat_map(|(_, v)| v.to_le_bytes()).collect();
            let mut spks = Vec::new();
            for (s, _) in spent {
                with_len(&mut spks, s);
            }
            let seqs: Vec<u8> = self
                .inputs
                .iter()
                .flat_map(|i| i.sequence.to_le_bytes())
                .collect();
            let mut m = vec![0x00u8]; // epoch
            m.push(0x00); // hash_type DEFAULT
            m.extend_from_slice(&self.version.to_le_bytes());
            m.extend_from_slice(&self.locktime.to_le_bytes());
            m.extend_from_slice(&sha256(&prevouts));
            m.extend_from_slice(&sha256(&amounts));
            m.extend_from_slice(&sha256(&spks));
            m.extend_from_slice(&sha256(&seqs));
            m.extend_from_slice(&sha256(&self.outputs_bytes()));
            m.push(0x00); // spend_type: key path, no annex
            m.extend_from_slice(&(index as u32).to_le_bytes());
            tagged("TapSighash", &m)
        }
    }

    fn ecdsa_key(seed: u8) -> (k256::ecdsa::SigningKey, Vec<u8>, [u8; 20]) {
        let sk = k256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let pk = sk
            .verifying_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec();
        let pkh = hash160(&pk);
        (sk, pk, pkh)
    }
    fn p2wpkh(pkh: &[u8; 20]) -> Vec<u8> {
        let mut s = vec![0x00, 0x14];
        s.extend_from_slice(pkh);
        s
    }
    /// BIP86-style key: returns the tweaked signing key and its P2TR scriptPubKey.
    fn taproot_key(seed: u8) -> (k256::schnorr::SigningKey, Vec<u8>) {
        let internal = k256::schnorr::SigningKey::from_bytes(&[seed; 32]).unwrap();
        let p: [u8; 32] = internal.verifying_key().to_bytes().into();
        let t = k256::Scalar::from_repr(tagged("TapTweak", &p).into()).unwrap();
        let d = **internal.as_nonzero_scalar() + t;
        let tweaked = k256::schnorr::SigningKey::from_bytes(&d.to_bytes()).unwrap();
        let q: [u8; 32] = tweaked.verifying_key().to_bytes().into();
        // Cross-check with the engine's own output-key derivation.
        assert_eq!(q, crate::frost::taproot_output_key(&p).unwrap());
        let mut spk = vec![0x51, 0x20];
        spk.extend_from_slice(&q);
        (tweaked, spk)
    }

    fn der_sig(sk: &k256::ecdsa::SigningKey, digest: &[u8; 32]) -> Vec<u8> {
        let sig: k256::ecdsa::Signature = sk.sign_prehash(digest).unwrap();
        let sig = sig.normalize_s().unwrap_or(sig);
        let mut v = sig.to_der().as_bytes().to_vec();
        v.push(0x01);
        v
    }

    /// A two-input tx: input 0 spends P2WPKH, input 1 spends P2TR (key path).
    /// Returns (tx, spent outputs) with both inputs signed over `sign_amounts`.
    fn signed_tx(sign_amounts: [u64; 2]) -> (Tx, Vec<(Vec<u8>, u64)>) {
        let (esk, _epk, pkh) = ecdsa_key(7);
        let (tsk, tr_spk) = taproot_key(9);
        let spent = vec![(p2wpkh(&pkh), 50_000u64), (tr_spk.clone(), 70_000u64)];
        let mut tx = Tx {
            version: 2,
            inputs: vec![
                Input {
                    prev_txid: [0x11; 32],
                    vout: 0,
                    sequence: 0xffff_fffd,
                    witness: vec![],
                },
                Input {
                    prev_txid: [0x22; 32],
                    vout: 3,
                    sequence: 0xffff_fffd,
                    witness: vec![],
                },
            ],
            outputs: vec![(119_000, tr_spk)],
            locktime: 0,
        };
        let h0 = tx.sighash_v0(0, &pkh, sign_amounts[0]);
        let signed_spent = vec![
            (spent[0].0.clone(), sign_amounts[0]),
            (spent[1].0.clone(), sign_amounts[1]),
        ];
        let h1 = tx.sighash_v1(1, &signed_spent);
        let (_, epk, _) = ecdsa_key(7);
        tx.inputs[0].witness = vec![der_sig(&esk, &h0), epk];
        tx.inputs[1].witness = vec![tsk.sign_raw(&h1, &[0x42; 32]).unwrap().to_bytes().to_vec()];
        (tx, spent)
    }

    fn two_input_spend(sign_amounts: [u64; 2]) -> (Vec<u8>, Vec<(Vec<u8>, u64)>) {
        let (tx, spent) = signed_tx(sign_amounts);
        (tx.serialize(), spent)
    }

    #[test]
    fn script_real_p2wpkh_and_p2tr_spends_verify() {
        let (tx, spent) = two_input_spend([50_000, 70_000]);
        verify_input(&tx, 0, &spent).unwrap();
        verify_input(&tx, 1, &spent).unwrap();
    }

    #[test]
    fn script_flipped_signature_byte_fails() {
        let (tx, spent) = two_input_spend([50_000, 70_000]);
        for input in 0..2usize {
            let (mut bad, _) = signed_tx([50_000, 70_000]);
            // Byte 10 is inside r for both the DER signature (after its 30/len/02/len header)
            // and the 64-byte Schnorr signature.
            bad.inputs[input].witness[0][10] ^= 0x01;
            let bad = bad.serialize();
            let e = verify_input(&bad, input, &spent).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidSignature, "input {input}: {e}");
            assert!(
                e.message
                    .starts_with(&format!("input {input}: script verification failed")),
                "{e}"
            );
            // The other input still verifies.
            verify_input(&bad, 1 - input, &spent).unwrap();
        }
        verify_input(&tx, 0, &spent).unwrap();
    }

    #[test]
    fn script_wrong_amount_fails() {
        // P2WPKH signed over a different amount.
        let (tx, spent) = two_input_spend([49_999, 70_000]);
        assert_eq!(
            verify_input(&tx, 0, &spent).unwrap_err().code,
            ErrorCode::InvalidSignature
        );
        // Taproot signs all amounts: the P2TR input fails too, even though its own amount is right.
        assert_eq!(
            verify_input(&tx, 1, &spent).unwrap_err().code,
            ErrorCode::InvalidSignature
        );
        // Correctly signed tx, but the verifier is told a different amount.
        let (tx, mut spent) = two_input_spend([50_000, 70_000]);
        spent[1].1 = 70_001;
        let e = verify_input(&tx, 1, &spent).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidSignature);
        assert_eq!(
            e.message,
            "input 1: script verification failed (ERR_SCRIPT)"
        );
    }

    #[test]
    fn script_missing_spent_outputs_and_bad_input_are_bad_arguments() {
        let (tx, spent) = two_input_spend([50_000, 70_000]);
        // Taproot input with only its own spent output: index 1 is not even present.
        let e = verify_input(&tx, 1, &spent[1..]).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument, "{e}");
        // One spent output too few for the transaction's two inputs.
        let e = verify_input(&tx, 0, &spent[..1]).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument, "{e}");
        assert!(e.message.contains("ERR_SPENT_OUTPUTS_MISMATCH"), "{e}");
        // Too many.
        let mut three = spent.clone();
        three.push(spent[0].clone());
        assert_eq!(
            verify_input(&tx, 2, &three).unwrap_err().code,
            ErrorCode::BadArgument
        );
        // Malformed transaction bytes.
        let e = verify_input(&tx[..tx.len() - 3], 0, &spent).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadArgument, "{e}");
        assert_eq!(
            verify_input(&[], 0, &spent).unwrap_err().code,
            ErrorCode::BadArgument
        );
        let mut trailing = tx.clone();
        trailing.push(0);
        assert_eq!(
            verify_input(&trailing, 0, &spent).unwrap_err().code,
            ErrorCode::BadArgument
        );
        // Value out of range.
        let mut huge = spent.clone();
        huge[0].1 = u64::MAX;
        assert_eq!(
            verify_input(&tx, 0, &huge).unwrap_err().code,
            ErrorCode::BadArgument
        );
    }
}
