package event

// Reason is a stable code for why a tap was decided as it was. Operators, the hub
// and dashboards key on these strings: never rename one.
type Reason string

// Reason codes. README.md lists each with what the operator should do.
const (
	ReasonAdmit           Reason = "admit"
	ReasonNotListed       Reason = "not_listed"
	ReasonRevoked         Reason = "revoked"
	ReasonRevocationStale Reason = "revocation_stale"
	ReasonCertExpired     Reason = "cert_expired"
	ReasonCertNotYetValid Reason = "cert_not_yet_valid"
	ReasonUnknownRoot     Reason = "unknown_root"
	ReasonCertInvalid     Reason = "cert_invalid"
	ReasonOutsideWindow   Reason = "outside_window"
	ReasonWrongZone       Reason = "wrong_zone"
	ReasonAlreadyInside   Reason = "already_inside"
	ReasonNotInside       Reason = "not_inside"
	ReasonPINWrong        Reason = "pin_wrong"
	ReasonPINBlocked      Reason = "pin_blocked"
	// ReasonPINNotEntered: the holder did not enter the PIN in time, or the
	// kiosk's screen cancelled.
	ReasonPINNotEntered Reason = "pin_not_entered"
	// ReasonNotBound: a card at an enrol lane with nothing to bind it to (the
	// kiosk's screen has not chosen a ticket or record yet).
	ReasonNotBound             Reason = "not_bound"
	ReasonTerminalAuthFailed   Reason = "terminal_auth_failed"
	ReasonCardSigInvalid       Reason = "card_signature_invalid"
	ReasonPINLessUnsupported   Reason = "pinless_unsupported"
	ReasonPINLessTooSlow       Reason = "pinless_too_slow"
	ReasonAssuranceNotAccepted Reason = "assurance_not_accepted"
	ReasonCardRemoved          Reason = "card_removed"
	ReasonNotMyNumberCard      Reason = "not_my_number_card"
	ReasonJukiCard             Reason = "juki_card"
	ReasonPhoneToken           Reason = "phone_token"
	ReasonCardError            Reason = "card_error"
	ReasonAnnulled             Reason = "annulled"
	ReasonInternalError        Reason = "internal_error"
	// ReasonStaff is a record staff made at the station without a card
	// (Event.Staff says why).
	ReasonStaff Reason = "staff"
)
