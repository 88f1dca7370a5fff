// Package signing is where a backup archive's origin is proved: the ed25519
// key a state directory signs its archives with (made on first use, or the
// operator's own OpenSSH key), signatures in OpenSSH's SSHSIG format (so that
// 'ssh-keygen -Y verify' checks them too), and the trust an archive's signer
// must have before stackctl restores from it.
package signing
