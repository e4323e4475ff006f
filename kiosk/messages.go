package kiosk

import (
	"fmt"

	"github.com/mynagate/mynagate/event"
)

// reasonText is what a holder is told when a kiosk tap is denied, by reason.
// Anything not here gets the general text.
var reasonText = map[event.Reason]Text{
	event.ReasonPINWrong:             {JA: "暗証番号が違います。もう一度カードをかざしてやり直してください", EN: "Wrong PIN. Touch your card again to retry"},
	event.ReasonPINBlocked:           {JA: "暗証番号がロックされています。お住まいの市区町村の窓口で再設定してください", EN: "Your PIN is blocked. Please have it reset at your municipal office"},
	event.ReasonPINNotEntered:        {JA: "暗証番号が入力されませんでした。もう一度カードをかざしてください", EN: "No PIN was entered. Touch your card again"},
	event.ReasonCardRemoved:          {JA: "読み取り中にカードが離れました。もう一度かざしてください", EN: "The card was taken away too soon. Touch it again"},
	event.ReasonNotBound:             {JA: "先に画面で受付内容を選んでください", EN: "Choose what to register on the screen first"},
	event.ReasonNotListed:            {JA: "このカードは登録されていません", EN: "This card is not registered"},
	event.ReasonRevoked:              {JA: "このカードは使用できません。係員にお声がけください", EN: "This card cannot be used. Please ask staff"},
	event.ReasonCertExpired:          {JA: "カードの電子証明書の有効期限が切れています。市区町村の窓口で更新してください", EN: "The card's certificate has expired. Renew it at your municipal office"},
	event.ReasonNotMyNumberCard:      {JA: "マイナンバーカードをかざしてください", EN: "Please touch a My Number card"},
	event.ReasonJukiCard:             {JA: "住基カードは使えません。マイナンバーカードをかざしてください", EN: "Juki cards are not accepted. Please use a My Number card"},
	event.ReasonPhoneToken:           {JA: "スマートフォンは使えません。カードをかざしてください", EN: "Phones are not accepted here. Please use the card"},
	event.ReasonAssuranceNotAccepted: {JA: "この端末ではカードを確認できません。係員にお声がけください", EN: "This kiosk cannot check the card. Please ask staff"},
}

var generalDenied = Text{JA: "確認できませんでした。係員にお声がけください", EN: "The card could not be checked. Please ask staff"}

// Result is the screen's message for a decided kiosk tap.
func Result(e event.Event) Message {
	m := Message{Type: MsgResult, Lane: e.Lane, Reason: e.Reason, Assurance: e.Assurance, EventID: e.ID}
	switch {
	case e.Decision == event.Admit && e.Kind == event.KindEnrol:
		m.Outcome, m.ServiceID, m.Seat = OutcomeEnrolled, e.ServiceID, e.Seat
		m.Text = Text{JA: "登録しました: " + bound(e, "席"), EN: "Registered: " + bound(e, "seat")}
	case e.Decision == event.Admit:
		m.Outcome, m.ServiceID, m.Seat = OutcomeIdentified, e.ServiceID, e.Seat
		m.Text = Text{JA: "本人確認ができました: " + bound(e, "席"), EN: "Identified: " + bound(e, "seat")}
	default:
		m.Outcome = OutcomeDenied
		t, ok := reasonText[e.Reason]
		if !ok {
			t = generalDenied
		}
		m.Text = t
	}
	return m
}

// bound names what a card is bound to: the service id, and the seat if any.
func bound(e event.Event, seatWord string) string {
	if e.Seat == "" {
		return e.ServiceID
	}
	return fmt.Sprintf("%s (%s %s)", e.ServiceID, seatWord, e.Seat)
}
