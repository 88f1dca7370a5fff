// Package theme answers the operator's question "is my Redmine theme available?"
// in layers, as an administrator would see it: the theme's source folder, the
// built Redmine image, Administration → Settings → Display of the running
// Redmine, and, on request, the theme applied and rendered in a browser.
package theme
