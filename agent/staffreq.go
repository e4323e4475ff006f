package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// StaffRequest is what staff ask of a station over its local control socket.
type StaffRequest struct {
	// Action is checkin, checkout or open.
	Action string `json:"action"`
	// Slip is the slip number of a check-in or check-out without a card.
	Slip string `json:"slip,omitempty"`
	// Reason is why a turnstile is opened: forgotten_card, paper_ticket, other.
	Reason string `json:"reason,omitempty"`
	// Note is an optional free note, kept at the hub only. No name is needed.
	Note string `json:"note,omitempty"`
}

// Limits of a staff request's free text.
const (
	maxSlip = 16
	maxNote = 200
)

// ParseStaffRequest decodes and validates a request from the control socket.
func ParseStaffRequest(b []byte) (StaffRequest, error) {
	var r StaffRequest
	if err := json.Unmarshal(b, &r); err != nil {
		return StaffRequest{}, fmt.Errorf("agent: staff request: %w", err)
	}
	if err := r.Validate(); err != nil {
		return StaffRequest{}, err
	}
	return r, nil
}

// Validate checks a request's fields for its action.
func (r StaffRequest) Validate() error {
	var errs []error
	switch r.Action {
	case StaffCheckin, StaffCheckout:
		if r.Slip == "" || len(r.Slip) > maxSlip {
			errs = append(errs, fmt.Errorf("slip: want 1 to %d characters", maxSlip))
		}
		for _, c := range r.Slip {
			if c < '!' || c > '~' {
				errs = append(errs, errors.New("slip: printable ASCII only (the number written on the slip)"))
				break
			}
		}
		if r.Reason != "" {
			errs = append(errs, errors.New("reason: only for open"))
		}
	case StaffOpen:
		switch r.Reason {
		case StaffForgottenCard, StaffPaperTicket, StaffOther:
		default:
			errs = append(errs, fmt.Errorf("reason %q: want forgotten_card, paper_ticket or other", r.Reason))
		}
		if r.Slip != "" {
			errs = append(errs, errors.New("slip: only for checkin and checkout"))
		}
	default:
		errs = append(errs, fmt.Errorf("action %q: want checkin, checkout or open", r.Action))
	}
	if !utf8.ValidString(r.Note) || utf8.RuneCountInString(r.Note) > maxNote {
		errs = append(errs, fmt.Errorf("note: want valid text of at most %d characters", maxNote))
	}
	for _, c := range r.Note {
		if unicode.IsControl(c) {
			errs = append(errs, errors.New("note: one line, no control characters"))
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: staff request: %w", err)
	}
	return nil
}
