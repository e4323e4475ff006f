// Package vcard is a virtual My Number card: the JPKI applet as the card answers
// it (SELECT, READ BINARY, VERIFY, COMPUTE DIGITAL SIGNATURE and the PIN-less
// reference protocol) and a client of vsmartcard's vpcd so that pcscd sees the
// card in a reader. Tests and demos use it in place of a physical card; fault
// injection (pulled card, garbled answers, wrong status words, delays) comes from
// the card's profile.
//
// The applet is pure: Card.Process maps one command APDU to one response APDU, so
// unit tests need no pcscd. Present puts the card on a vpcd slot.
package vcard
