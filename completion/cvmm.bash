# SPDX-License-Identifier: MIT
# bash completion for cvmm(1) and cvmm-remote(1), installed as
# .../bash-completion/completions/cvmm (and cvmm-remote, a link to it).
#
# What to offer comes from the program's own --help, so it cannot drift
# from the parser: "  --disk path=PATH[,readonly=on|off]" offers the keys
# path= and readonly=, on|off after readonly=, file names after path=;
# "--serial tty|file=PATH|null|off" offers tty, file=, null, off; an
# option with several synopses (--disk) offers the keys of all. An
# upper-case word is a placeholder: PATH (and the JSON argument's @FILE)
# completes file names, others nothing. cvmm-remote's commands are the
# two-space indented lines of its --help.
# Self-contained: does not need the bash-completion package's helpers.

# _cvmm_help PROG: sets _cvmm_opts (one synopsis per line: "--name VALUE")
# and _cvmm_cmds from PROG --help, cached per PROG.
_cvmm_help()
{
	[[ ${_cvmm_cache_prog-} == "$1" ]] && return
	local help
	help=$("$1" --help 2>/dev/null) || help=""
	_cvmm_opts=$(printf '%s\n' "$help" | awk '
		/^  --/ {                   # cvmm: "  --opt VALUE   text"
			sub(/^ +/, ""); sub(/  .*/, "")
			n = split($0, a, /, /)
			for (i = 1; i <= n; i++) print a[i]
			next
		}
		/^(usage:| +)[ ]*[^ ]*cvmm/ { # cvmm-remote: its usage lines
			s = $0
			while (match(s, /--[a-z][a-z-]*( [A-Z][A-Za-z0-9]*)?/)) {
				print substr(s, RSTART, RLENGTH)
				s = substr(s, RSTART + RLENGTH)
			}
		}')
	_cvmm_cmds=$(printf '%s\n' "$help" | awk '/^  [a-z][a-z-]* / { print $1 }')
	_cvmm_cache_prog=$1
}

# _cvmm_add PREFIX WORD...: appends PREFIX+WORD to COMPREPLY for each
# WORD that extends the current word.
_cvmm_add()
{
	local pre=$1 w
	shift
	for w in "$@"; do
		[[ $pre$w == "$_cvmm_cur"* ]] || continue
		# An option with two synopses (--disk) names some keys twice.
		[[ " ${COMPREPLY[*]-} " == *" $pre$w "* ]] || COMPREPLY+=("$pre$w")
	done
}

# _cvmm_files PREFIX PARTIAL: file names (directories with a '/').
_cvmm_files()
{
	local pre=$1 f
	while IFS= read -r f; do
		[[ -d $f ]] && f=$f/
		COMPREPLY+=("$pre$f")
	done < <(compgen -f -- "$2")
}

# _cvmm_value SPEC PREFIX VALUE: completes VALUE of an option whose
# --help synopsis value is SPEC; PREFIX is what precedes VALUE in the word.
_cvmm_value()
{
	local spec=${1//[\[\]]/} pre=$2 val=$3
	if [[ $spec != *[=\|,]* ]]; then  # a placeholder: PATH, STR, N
		[[ $spec == PATH ]] && _cvmm_files "$pre" "$val"
		return
	fi
	local head="" item=$val seg key
	if [[ $val == *,* ]]; then
		head=${val%,*},
		item=${val##*,}
	fi
	local -a segs keys=() words=()
	IFS=, read -ra segs <<<"$spec"
	for seg in "${segs[@]}"; do
		if [[ $seg =~ ^[a-z0-9_-]+= ]]; then  # key=VALUE or key=on|off
			keys+=("$seg")
		else                                # alternatives: tty|file=PATH|off
			local -a alts
			IFS='|' read -ra alts <<<"$seg"
			local a
			for a in "${alts[@]}"; do
				if [[ $a == *=* ]]; then keys+=("$a"); else words+=("$a"); fi
			done
		fi
	done
	if [[ $item == *=* ]]; then
		key=${item%%=*}
		for seg in "${keys[@]}"; do
			[[ ${seg%%=*} == "$key" ]] || continue
			local vspec=${seg#*=}
			if [[ $vspec == PATH ]]; then
				_cvmm_files "$pre$head$key=" "${item#*=}"
			elif [[ $vspec == *[a-z]* ]]; then  # literal values: on|off
				local -a vals
				IFS='|' read -ra vals <<<"$vspec"
				_cvmm_add "$pre$head$key=" "${vals[@]}"
			fi
		done
		return
	fi
	for seg in "${keys[@]}"; do
		_cvmm_add "$pre$head" "${seg%%=*}="
	done
	[[ -z $head ]] && _cvmm_add "$pre" "${words[@]}"
}

_cvmm()
{
	COMPREPLY=()
	_cvmm_help "$1"
	# The current and the previous word as the shell splits them (bash's
	# own COMP_WORDS also break at '=' and ':'), from the line itself.
	local line=${COMP_LINE:0:COMP_POINT} prev
	local -a w
	read -ra w <<<"$line"
	if [[ -z $line || $line == *[[:space:]] ]]; then
		_cvmm_cur=""
		prev=${w[${#w[@]}-1]}
	else
		_cvmm_cur=${w[${#w[@]}-1]}
		prev=${w[${#w[@]}-2]}
	fi
	local cur=$_cvmm_cur syn spec="" opt="" found=""

	if [[ $cur == --*=* ]]; then        # --opt=VALUE
		opt=${cur%%=*}
		while IFS= read -r syn; do
			[[ ${syn%% *} == "$opt" && $syn == *" "* ]] && spec=${spec:+$spec,}${syn#* }
		done <<<"$_cvmm_opts"
		[[ -n $spec ]] && _cvmm_value "$spec" "$opt=" "${cur#*=}"
	else
		while IFS= read -r syn; do
			[[ ${syn%% *} == "$prev" && $syn == *" "* ]] && spec=${spec:+$spec,}${syn#* } found=1
		done <<<"$_cvmm_opts"
		if [[ -n $found ]]; then        # the value of the previous option
			_cvmm_value "$spec" "" "$cur"
			# An optional value ([key=...]) may be left out.
			[[ $spec == \[* && ( -z $cur || $cur == -* ) ]] &&
				while IFS= read -r syn; do _cvmm_add "" "${syn%% *}"; done <<<"$_cvmm_opts"
		elif [[ $cur == -* ]]; then
			while IFS= read -r syn; do
				_cvmm_add "" "${syn%% *}"
			done <<<"$_cvmm_opts"
		elif [[ -n $_cvmm_cmds ]]; then # cvmm-remote: COMMAND [JSON]
			local i cmd=""
			for ((i = 1; i < ${#w[@]}; i++)); do
				[[ $i -eq ${#w[@]}-1 && -n $cur ]] && break
				[[ $'\n'$_cvmm_cmds$'\n' == *$'\n'"${w[i]}"$'\n'* ]] && cmd=${w[i]}
			done
			if [[ -z $cmd ]]; then
				# shellcheck disable=SC2086 # one command a line
				_cvmm_add "" $_cvmm_cmds
			elif [[ $cur == @* ]]; then
				_cvmm_files "@" "${cur#@}"
			fi
		fi
	fi

	# Keep typing after "key=", "dir/" and "a,": no space.
	local c
	for c in "${COMPREPLY[@]}"; do
		[[ $c == *[=/,] ]] && { compopt -o nospace 2>/dev/null; break; }
	done
	# bash replaces only its own last word, which ends where ours does.
	local bw=${COMP_WORDS[COMP_CWORD]-}
	if [[ -n $bw && $cur == *"$bw" ]]; then
		local strip=${cur%"$bw"}
		[[ -n $strip ]] && COMPREPLY=("${COMPREPLY[@]#"$strip"}")
	fi
	return 0
}

complete -F _cvmm cvmm cvmm-remote
