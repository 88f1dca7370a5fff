// Package mail proves a stack's outgoing mail: a test mail sent through the
// application's own mailer and configuration, in the container that serves,
// so that what is proven is what the application's notifications use.
package mail
