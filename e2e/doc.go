// Package e2e holds whole-system tests: the gatehub and gateagent binaries
// built and run as an operator runs them, talking over MQTT, with cards tapped
// through pcscd and the vpcd virtual reader. It has no code of its own.
package e2e
