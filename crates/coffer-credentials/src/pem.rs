//! PEM blocks of a credential value, read with `x509-parser`'s PEM reader. Bodies are held in
//! `Zeroizing` buffers because they may be private keys.

use x509_parser::error::PEMError;
use x509_parser::pem::Pem;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kind::CredentialType;

/// One PEM block: its label (e.g. `CERTIFICATE`) and decoded body.
pub(crate) struct Block {
    pub(crate) label: String,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// Every PEM block in `value`, in order; text outside blocks is ignored.
pub(crate) fn blocks(kind: CredentialType, value: &str) -> Result<Vec<Block>> {
    Pem::iter_from_buffer(value.as_bytes())
        .map(|block| {
            let pem = block.map_err(|error| read_error(kind, &error))?;
            Ok(Block {
                label: pem.label,
                body: Zeroizing::new(pem.contents),
            })
        })
        .collect()
}

/// A PEM reading error in words that never quote the input.
fn read_error(kind: CredentialType, error: &PEMError) -> Error {
    let reason = match error {
        PEMError::IncompletePEM => "a PEM block is truncated (no END line)",
        PEMError::Base64DecodeError => "a PEM block is not valid base64",
        _ => "a PEM block header is malformed",
    };
    Error::Invalid { kind, reason }
}
