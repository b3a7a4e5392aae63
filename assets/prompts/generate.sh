#!/usr/bin/env bash
# Regenerates the demo's prompt set: Japanese and English speech with espeak-ng, music on
# hold and a beep with sox. Output: 8 kHz mono µ-law WAV, the format callers hear.
# The generated files are committed; this script is only needed to change them.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || { echo "needs espeak-ng and sox" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

say() { # lang name text
    mkdir -p "$1"
    local voice=$1; [ "$1" = en ] && voice=en-us
    espeak-ng -v "$voice" -s 150 -w "$tmp/x.wav" "$3" 2>/dev/null
    sox -q "$tmp/x.wav" -r 8000 -c 1 -e u-law "$1/$2.wav" norm -3 pad 0 0.3
}

# Japanese (written in kana: espeak-ng reads kana, not kanji).
say ja welcome "おでんわ ありがとう ございます。 つなぐ デモセンター です。"
say ja menu "ごちゅうもんは いちを、 サポートは にを、 せいきゅうの おといあわせは さんを、 ごいけん ごようぼうは よんを、 おしてください。 フォー イングリッシュ、 プレス ナイン。"
say ja invalid "もうしわけ ございません。 もういちど おねがいします。"
say ja no_input "にゅうりょくが かくにん できませんでした。"
say ja closed "ただいまの じかんは うけつけ じかんがいです。 へいじつ ごぜん くじから ごご ろくじまでに おかけなおしください。"
say ja queue_wait "ただいま でんわが こみあって おります。 そのまま おまちください。"
say ja transfer "たんとうしゃに おつなぎします。"
say ja goodbye "おでんわ ありがとう ございました。"
say ja order_no "ごちゅうもん ばんごうを にゅうりょくし、 さいごに シャープを おしてください。"
say ja recording_notice "サービス こうじょうの ため、 つうわを ろくおん させて いただきます。"
say ja callback_offer "おりかえしの でんわを ごきぼうの かたは いちを おしてください。"
say ja callback_ok "おりかえしの ごよやくを うけたまわりました。 じゅんばんが きましたら おでんわ いたします。"
say ja callback_no_number "おでんわばんごうが ひつうちの ため、 おりかえしの ごよやくが できません。 ばんごうを つうちして おかけなおしください。"
say ja voicemail "はっしんおんの あとに ごようけんを おはなしください。"
say ja voicemail_ok "メッセージを うけたまわりました。"
nums=(ゼロ いち に さん よん ご ろく なな はち きゅう じゅう)
for n in $(seq 1 10); do say ja "position_$n" "あなたは ${nums[$n]}ばんめ です。"; done
say ja position_many "あなたの まえに じゅうにん いじょう おまちです。"
mins=(ゼロ いっぷん にふん さんぷん よんぷん ごふん ろっぷん ななふん はっぷん きゅうふん じゅっぷん)
for n in $(seq 1 10); do say ja "wait_$n" "おまちいただく じかんは やく ${mins[$n]}です。"; done
say ja wait_long "おまちいただく じかんは じゅっぷん いじょうです。"

# English.
say en welcome "Thank you for calling the Tsunagu demo center."
say en menu "For orders, press 1. For support, press 2. For billing, press 3. For feedback, press 4."
say en invalid "Sorry, please try again."
say en no_input "We did not receive your choice."
say en closed "Our office is closed. Please call again on weekdays between 9 a.m. and 6 p.m."
say en queue_wait "All our agents are busy. Please stay on the line."
say en transfer "Connecting you to an agent."
say en goodbye "Thank you for calling. Goodbye."
say en order_no "Please enter your order number, then press the hash key."
say en recording_notice "This call may be recorded for quality purposes."
say en callback_offer "To get a call back instead of waiting, press 1."
say en callback_ok "Your callback is booked. We will call you when it is your turn."
say en callback_no_number "Your number is withheld, so we cannot call you back. Please call again showing your number."
say en voicemail "Please leave your message after the tone."
say en voicemail_ok "Your message has been recorded."
for n in $(seq 1 10); do say en "position_$n" "You are number $n in line."; done
say en position_many "There are more than ten callers ahead of you."
for n in $(seq 1 10); do
    unit=minutes; [ "$n" = 1 ] && unit=minute
    say en "wait_$n" "Your estimated wait is about $n $unit."
done
say en wait_long "Your estimated wait is more than ten minutes."

# Music on hold: a soft arpeggio, 16 s, loops cleanly.
notes=""
for f in 523 659 784 659 587 698 880 698 523 659 784 1047 784 659 587 523; do
    sox -q -n -r 8000 -c 1 "$tmp/n_${f}_${#notes}.wav" synth 1 sine "$f" fade q 0.05 1 0.3 vol 0.25
    notes="$notes $tmp/n_${f}_${#notes}.wav"
done
sox -q $notes -r 8000 -c 1 -e u-law moh.wav
sox -q -n -r 8000 -c 1 -e u-law beep.wav synth 0.4 sine 1000 vol 0.5
echo "prompts generated"
