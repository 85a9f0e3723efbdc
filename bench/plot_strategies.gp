# plot_strategies.gp - the picture of `aio bench strategies`: decode speed relative to ar, per
# task category, one bar per strategy and k.
#
# It owns only the drawing; the numbers come from DIR/strategies.dat, which the bench writes
# (a header row "category ar lookup-k1 ...", then one row of speedups per category). The
# dashed line at 1 is ar: every bar below it is a configuration that loses to plain decoding
# on that kind of text, which is what the orchestrator must avoid, so the axis always shows it.
#
#   gnuplot -e "datafile='bench/out/strategies.dat'; outfile='bench/out/strategies.png'" \
#           bench/plot_strategies.gp
# (aio bench strategies runs this itself when gnuplot is installed: apt-get install gnuplot-nox)

if (!exists("datafile")) datafile = 'bench/out/strategies.dat'
if (!exists("outfile")) outfile = 'bench/out/strategies.png'
if (!exists("plottitle")) plottitle = ''

# pngcairo draws anti-aliased text; the plain png terminal (libgd) is the fallback
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 1280,640 noenhanced font ',11'
} else {
    set terminal png size 1280,640 noenhanced
}
set output outfile

set title 'decode tok/s relative to ar, same run' . (plottitle eq '' ? '' : ': ' . plottitle)
set ylabel 'x vs ar (below 1 = slower than ar)'
set style data histograms
set style histogram clustered gap 2
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set xtics nomirror
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 linewidth 2 linecolor rgb 'black' front

# lookup in blues, spec in reds, darker with larger k (columns: 1 category, 2 ar, 3.. variants)
palette_of(name) = strstrt(name, 'lookup') > 0 ? 'lookup' : 'spec'
k_of(name) = int(substr(name, strstrt(name, '-k') + 2, strlen(name)))
shade(k) = k <= 1 ? 0 : k <= 3 ? 1 : k <= 7 ? 2 : 3
array LOOKUP[4] = ['#9ecae1', '#6baed6', '#3182bd', '#08519c']
array SPEC[4] = ['#fcae91', '#fb6a4a', '#de2d26', '#a50f15']
color_of(name) = palette_of(name) eq 'lookup' ? LOOKUP[shade(k_of(name)) + 1] : SPEC[shade(k_of(name)) + 1]

header = system(sprintf("grep -v '^#' '%s' | head -n 1", datafile))
n_columns = words(header)

# the x range fits the categories, the y range always shows ar's line with some room above
set datafile columnheaders
y_top = 1.0
do for [i=2:n_columns] {
    stats datafile using i nooutput
    if (STATS_max > y_top) { y_top = STATS_max }
}
n_categories = STATS_records
set xrange [-0.6 : n_categories - 0.4]
set yrange [0 : y_top * 1.12]

plot for [i=3:n_columns] datafile using i:xtic(1) title word(header, i) linecolor rgb color_of(word(header, i))
