// Package https is HTTPS at the Redmine stack's nginx: the certificate it
// serves in each tls mode (the operator's files, checked before anything
// changes; a self-signed one; one issued and renewed by an ACME CA through
// HTTP-01), and the nginx configuration that serves it. It knows nothing of
// the engine: the stack runner delivers what it returns into nginx's TLS
// volume, and serves ACME's challenges through a Challenger it passes in.
package https
