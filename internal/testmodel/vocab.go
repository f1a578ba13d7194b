package testmodel

import (
	"fmt"
	"strings"
)

// GGUF token types (tokenizer.ggml.token_type).
const (
	tokenNormal  = 1
	tokenUnknown = 2
	tokenControl = 3
	tokenByte    = 6
)

// Token ids of the special tokens; the vocabulary always starts with them.
const (
	UnknownID = 0 // <unk>
	BOSID     = 1 // <s>
	EOSID     = 2 // </s>
)

// spaceMark is SentencePiece's word-start marker.
const spaceMark = "▁"

// words are the whole words of the vocabulary, most common English words first, so
// that ordinary prompt text tokenises to about one token per word.
var words = strings.Fields(`
the of and to a in is it you that he was for on are with as his they be at one
have this from or had by hot word but what some we can out other were all there
when up use your how said an each she which do their time if will way about many
then them write would like so these her long make thing see him two has look more
day could go come did number sound no most people my over know water than call
first who may down side been now find any new work part take get place made live
where after back little only round man year came show every good me give our under
name very through just form sentence great think say help low line differ turn
cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here
must big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant
cover food sun four between state keep eye never last let thought city tree cross
farm hard start might story saw far sea draw left late run while press close night
real life few north open seem together next white children begin got walk example
ease paper group always music those both mark often letter until mile river car
feet care second book carry took science eat room friend began idea fish mountain
stop once base hear horse cut sure watch color face wood main enough plain girl
usual young ready above ever red list though feel talk bird soon body dog family
direct pose leave song measure door product black short numeral class wind question
happen complete ship area half rock order fire south problem piece told knew pass
since top whole king space heard best hour better true during hundred five remember
step early hold west ground interest reach fast verb sing listen six table travel
less morning ten simple several vowel toward war lay against pattern slow center
love person money serve appear road map rain rule govern pull cold notice voice
unit power town fine certain fly fall lead cry dark machine note wait plan figure
star box noun field rest correct able pound done beauty drive stood contain front
teach week final gave green quick develop ocean warm free minute strong special
mind behind clear tail produce fact street inch multiply nothing course stay wheel
full force blue object decide surface deep moon island foot system busy test record
boat common gold possible plane stead dry wonder laugh thousand ago ran check game
shape equate miss brought heat snow tire bring yes distant fill east paint language
among`)

// syllables build the extra words asked for beyond the built-in list.
var syllables = strings.Fields("ba ko ri su te na mo li da pe gu vo zi")

// BuiltinWords is the number of whole words the vocabulary can hold before it
// makes up more from syllables.
var BuiltinWords = len(words)

// vocabulary builds the token list: the three control tokens, the 256 byte tokens,
// the space marker and the 26 lower-case letters, then every ▁-prefixed prefix of
// the first n words (longer than the marker alone). SentencePiece merges pairs of
// known pieces, so a word is one token only when all its prefixes are pieces too.
// allowed reports, per token, whether greedy decoding may emit it: only the
// ▁-prefixed pieces with at least one letter, which decode to a space and a word.
func vocabulary(n int) (tokens []string, types []int32, scores []float32, allowed []bool) {
	add := func(tok string, typ int32, ok bool) {
		tokens = append(tokens, tok)
		types = append(types, typ)
		scores = append(scores, 0)
		allowed = append(allowed, ok)
	}
	add("<unk>", tokenUnknown, false)
	add("<s>", tokenControl, false)
	add("</s>", tokenControl, false)
	for b := 0; b < 256; b++ {
		add(fmt.Sprintf("<0x%02X>", b), tokenByte, false)
	}
	add(spaceMark, tokenNormal, false)
	for c := 'a'; c <= 'z'; c++ {
		add(string(c), tokenNormal, false)
	}
	seen := make(map[string]bool, len(tokens))
	for _, t := range tokens {
		seen[t] = true
	}
	for i := 0; i < n; i++ {
		w := spaceMark + wordAt(i)
		for j := len(spaceMark) + 1; j <= len(w); j++ {
			if p := w[:j]; !seen[p] {
				seen[p] = true
				add(p, tokenNormal, true)
			}
		}
	}
	// SentencePiece prefers the merge with the highest score: rank pieces by length
	// so that merges always grow towards the whole word, then by order.
	for i, t := range tokens {
		if types[i] == tokenNormal {
			scores[i] = -float32(i) / float32(len(tokens)) * 0.5
			scores[i] += float32(len(t))
		}
	}
	return tokens, types, scores, allowed
}

// wordAt returns the i-th word: from the built-in list, then made up from syllables
// (three syllables, distinct for any index below 13^3 beyond the list, then longer).
func wordAt(i int) string {
	if i < len(words) {
		return words[i]
	}
	i -= len(words)
	var b strings.Builder
	n := len(syllables)
	for k := 0; k < 3 || i > 0; k++ {
		b.WriteString(syllables[i%n])
		i /= n
	}
	return b.String()
}
