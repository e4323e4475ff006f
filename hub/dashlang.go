package hub

import (
	"fmt"
	"net/http"
	"time"
)

// lang is the dashboard's language: Japanese by default, English on
// ?lang=en. Its texts are keyed by their English form.
type lang struct {
	Code, Name string
	texts      map[string]string
}

var (
	langJA = lang{Code: "ja", Name: "日本語", texts: map[string]string{
		"MynaGate hub":                          "MynaGate ハブ",
		"down":                                  "台停止",
		"gates":                                 "ゲート数",
		"not online":                            "未接続",
		"anti-passback conflicts":               "二重入場の疑い",
		"Sites":                                 "会場",
		"Gates":                                 "ゲート",
		"Published lists":                       "配信済みリスト",
		"site":                                  "会場",
		"inside now":                            "現在の入場者",
		"events":                                "件数",
		"gate":                                  "ゲート",
		"link":                                  "接続",
		"backlog":                               "未送信",
		"oldest unsent":                         "最古の未送信",
		"lists on the gate":                     "ゲートのリスト",
		"health":                                "機器の状態",
		"admitted":                              "許可",
		"denied":                                "拒否",
		"decided offline":                       "オフライン判定",
		"duplicates":                            "重複受信",
		"not yet received":                      "未着",
		"conflicts":                             "二重入場",
		"last status":                           "最終報告",
		"software":                              "ソフトウェア",
		"list":                                  "リスト",
		"version":                               "版",
		"kind":                                  "種別",
		"created":                               "作成",
		"%s ago":                                "%s前",
		"no status yet":                         "報告なし",
		"status unreadable":                     "報告を読めません",
		"online":                                "接続中",
		"offline since %s (%s)":                 "%s から切断 (%s)",
		", applied %s":                          "、適用 %s",
		", hub has v%d":                         "、ハブは v%d",
		"outbox: full, taps cannot be recorded": "送信待ち: 満杯、タッチを記録できません",
		"The last hour":                         "直近1時間",
		"Taps per minute (green admitted, red denied)": "1分ごとのタッチ (緑: 許可、赤: 拒否)",
		"taps":                        "タッチ",
		"no taps in the last hour":    "直近1時間のタッチはありません",
		"Deny reasons":                "拒否の理由",
		"no denials in the last hour": "直近1時間の拒否はありません",
		"Inside over time":            "入場者数の推移",
		"Events":                      "イベント",
		"filter":                      "絞り込む",
		"time":                        "時刻",
		"lane":                        "レーン",
		"decision":                    "判定",
		"reason":                      "理由",
		"assurance":                   "確認方式",
		"offline":                     "オフライン",
		"yes":                         "はい",
		// The event table's kinds and decisions (the codes the filters take
		// stay in each cell's title); reason codes stay codes, as the README's
		// reason table names them.
		"entry": "入場", "exit": "退場", "checkin": "受付", "checkout": "退所",
		"enrol": "登録", "identify": "本人確認", "annul": "取消",
		"admit": "許可", "deny": "拒否",
		"EMERGENCY declared at %s: the gates also accept their own fallback levels": "緊急事態宣言中 (%s): ゲートは各自のフォールバック方式も受け付けます",
		"EMERGENCY declared at %s: no fallback level":                               "緊急事態宣言中 (%s): フォールバック方式なし",
		"EMERGENCY declared at %s: the gates also accept %s":                        "緊急事態宣言中 (%s): ゲートは %s も受け付けます",
		" (not yet published)": " (まだ配信されていません)",
		" (until %s)":          " (%s まで)",
		"Emergency at %s LAPSED at %s: the gates no longer accept the fallback levels; renew it with gatehub config set --emergency=true --for": "%s の緊急事態宣言は %s に期限切れになりました: ゲートはフォールバック方式を受け付けません。gatehub config set --emergency=true --for で更新してください",
		NoFallback:       "この宣言では何も変わりません: この会場のフォールバック方式が「なし」です。--fallback=cert などで指定してください",
		GatesOwnFallback: "フォールバック方式を設定したゲートでのみ有効です (各ゲートの policy.fallback)。会場として --fallback=cert で指定できます",
		FallbackAccepted: "この宣言では何も変わりません: フォールバック方式はすべて通常時から受け付けています",
		"a list command holds lists.db: the emergency banners may be a moment old": "リスト操作中のため、緊急表示は少し前の状態です",
	}}
	langEN = lang{Code: "en", Name: "English"}
)

// langOf picks the language a request asks for with ?lang=.
func langOf(r *http.Request) lang {
	if r.URL.Query().Get("lang") == "en" {
		return langEN
	}
	return langJA
}

// s translates an English text; English and unknown texts stay as they are.
func (l lang) s(en string) string {
	if t, ok := l.texts[en]; ok {
		return t
	}
	return en
}

// other is the language the page's switch offers.
func (l lang) other() lang {
	if l.Code == langEN.Code {
		return langJA
	}
	return langEN
}

// stamp writes a date and time of day the way the language does.
func (l lang) stamp(t time.Time) string {
	if l.Code == langEN.Code {
		return t.Format("Jan 2 15:04:05")
	}
	return fmt.Sprintf("%d月%d日 %s", t.Month(), t.Day(), t.Format("15:04:05"))
}
