// Package secretscan tells whether a value looks like a secret: the Compose
// SDK's own secret detector's rules, shared by validate (a compose file's
// environment) and settings (a settings file that must name secrets' files,
// never hold them).
package secretscan
