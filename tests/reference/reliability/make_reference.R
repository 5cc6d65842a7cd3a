# Golden numbers for tests/test_reliability.py and tests/test_gtheory.py.
#
# Run from the repository root:
#   Rscript tests/reference/reliability/make_reference.R
# Needs Debian's r-cran-psych, r-cran-psychtools, r-cran-gparotation, r-cran-lme4, r-cran-jsonlite.
# Writes the data sets used (CSV) and every reference number (reference.json) next to this script,
# so the Python tests need no R.
suppressPackageStartupMessages({
  library(psych); library(psychTools); library(GPArotation); library(lme4); library(jsonlite)
})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
out <- function(name) file.path(here, name)

# ---------------------------------------------------------------- data sets
data(bfi, package = "psych")
bfi25 <- bfi[, 1:25]
bfi25 <- bfi25[rowSums(!is.na(bfi25)) > 0, ]
write.csv(bfi25, out("bfi.csv"), row.names = FALSE, na = "")

data(ability, package = "psychTools")
ability <- as.data.frame(ability)
ability <- ability[rowSums(!is.na(ability)) > 0, ]
write.csv(ability, out("ability.csv"), row.names = FALSE, na = "")

# Simulated 7-point Likert set: 600 respondents, 12 items, a general factor plus three group
# factors (bifactor), items 3, 7 and 11 reverse keyed, cut into 1..7 categories.
set.seed(20240504)
n <- 600; p <- 12
g <- rnorm(n); s <- matrix(rnorm(n * 3), n, 3)
lg <- c(.6, .5, .55, .65, .5, .6, .45, .55, .6, .5, .65, .55)
ls <- c(.5, .4, .45, .4, .5, .45, .4, .5, .45, .5, .4, .45)
grp <- rep(1:3, each = 4)
latent <- sapply(1:p, function(j) lg[j] * g + ls[j] * s[, grp[j]] +
                   sqrt(1 - lg[j]^2 - ls[j]^2) * rnorm(n))
likert_keys <- rep(1, p); likert_keys[c(3, 7, 11)] <- -1
latent <- sweep(latent, 2, likert_keys, "*")
cuts <- c(-Inf, -1.6, -0.9, -0.3, 0.3, 0.9, 1.6, Inf)
likert <- as.data.frame(apply(latent, 2, function(v) as.integer(cut(v, cuts))))
colnames(likert) <- sprintf("L%02d", 1:p)
write.csv(likert, out("likert7.csv"), row.names = FALSE)

# ---------------------------------------------------------------- helpers
alpha_ref <- function(x, keys) {
  a <- psych::alpha(x, keys = keys, warnings = FALSE)
  list(raw = a$total$raw_alpha, std = a$total$std.alpha, G6 = a$total[["G6(smc)"]],
       feldt_lower = a$feldt$lower.ci[[1]], feldt_upper = a$feldt$upper.ci[[1]],
       drop_raw = a$alpha.drop$raw_alpha, drop_std = a$alpha.drop$std.alpha,
       r_drop = a$item.stats$r.drop, raw_r = a$item.stats$raw.r)
}
split_ref <- function(x, keys) {
  s <- psych::splitHalf(x, raw = TRUE, key = keys, check.keys = FALSE)
  # The per-split values are kept only for odd item counts, where psych visits a subset of splits.
  list(min = s$minrb, max = s$maxrb, mean = s$meanr, lambda6 = s$lambda6,
       n_raw = length(s$raw), raw = if (ncol(x) %% 2 == 1) as.numeric(s$raw) else NULL)
}
omega_ref <- function(x, nf, keys = NULL) {
  o <- if (is.null(keys)) psych::omega(x, nfactors = nf, plot = FALSE)
       else psych::omega(x, nfactors = nf, key = keys, plot = FALSE)
  list(n_factors = nf, omega_h = o$omega_h, omega_tot = o$omega.tot, alpha = o$alpha,
       g_loadings = as.numeric(o$schmid$sl[, 1]), h2 = as.numeric(o$schmid$sl[, "h2"]))
}
icc_ref <- function(x, lmer) {
  r <- suppressMessages(psych::ICC(x, lmer = lmer))$results
  list(icc = r$ICC, lower = r[["lower bound"]], upper = r[["upper bound"]], F = r$F,
       df1 = r$df1, df2 = r$df2, p = r$p)
}
reverse <- function(x, keys, lo, hi) {
  for (j in which(keys < 0)) x[, j] <- lo + hi - x[, j]
  x
}

ref <- list(meta = list(R = R.version.string, psych = as.character(packageVersion("psych")),
                        GPArotation = as.character(packageVersion("GPArotation")),
                        lme4 = as.character(packageVersion("lme4"))),
            scales = list(), omega = list(), icc = list(), gtheory = list())

# ---------------------------------------------------------------- scales
scales <- list(
  bfi_agree = list(file = "bfi.csv", items = sprintf("A%d", 1:5), keys = c(-1, 1, 1, 1, 1), lo = 1, hi = 6),
  bfi_consc = list(file = "bfi.csv", items = sprintf("C%d", 1:5), keys = c(1, 1, 1, -1, -1), lo = 1, hi = 6),
  bfi_extra = list(file = "bfi.csv", items = sprintf("E%d", 1:5), keys = c(-1, -1, 1, 1, 1), lo = 1, hi = 6),
  bfi_neuro = list(file = "bfi.csv", items = sprintf("N%d", 1:5), keys = c(1, 1, 1, 1, 1), lo = 1, hi = 6),
  bfi_open  = list(file = "bfi.csv", items = sprintf("O%d", 1:5), keys = c(1, -1, 1, 1, -1), lo = 1, hi = 6),
  ability   = list(file = "ability.csv", items = colnames(ability), keys = rep(1, 16), lo = 0, hi = 1),
  likert7   = list(file = "likert7.csv", items = colnames(likert), keys = likert_keys, lo = 1, hi = 7)
)
frames <- list(bfi.csv = bfi25, ability.csv = ability, likert7.csv = likert)
for (nm in names(scales)) {
  sc <- scales[[nm]]
  x <- frames[[sc$file]][, sc$items]
  x <- x[rowSums(!is.na(x)) > 0, ]
  xr <- reverse(x, sc$keys, sc$lo, sc$hi)
  entry <- list(file = sc$file, items = sc$items, keys = sc$keys, n_rows = nrow(x),
                alpha = alpha_ref(x, sc$keys),
                split_half = split_ref(x, sc$keys),
                split_half_covar_lambda6 = psych::splitHalf(x, key = sc$keys, check.keys = FALSE,
                                                            covar = TRUE)$lambda6,
                omega_1f = omega_ref(x, 1, sc$keys),
                icc_lmer = icc_ref(xr, TRUE),
                icc_aov_listwise = icc_ref(na.omit(xr), FALSE))
  ref$scales[[nm]] <- entry
}

# ---------------------------------------------------------------- omega (Schmid-Leiman)
bfi_keys25 <- rep(1, 25); bfi_keys25[c(1, 9, 10, 11, 12, 22, 25)] <- -1
ref$omega$bfi25_nf3 <- c(list(file = "bfi.csv", items = colnames(bfi25), keys = bfi_keys25),
                         omega_ref(bfi25, 3, bfi_keys25))
ref$omega$bfi25_nf5 <- c(list(file = "bfi.csv", items = colnames(bfi25), keys = bfi_keys25),
                         omega_ref(bfi25, 5, bfi_keys25))
ref$omega$bfi25_nf2 <- c(list(file = "bfi.csv", items = colnames(bfi25), keys = bfi_keys25),
                         omega_ref(bfi25, 2, bfi_keys25))
ref$omega$ability_nf3 <- c(list(file = "ability.csv", items = colnames(ability), keys = NULL),
                           omega_ref(ability, 3))
ref$omega$ability_nf4 <- c(list(file = "ability.csv", items = colnames(ability), keys = NULL),
                           omega_ref(ability, 4))
ref$omega$likert7_nf3 <- c(list(file = "likert7.csv", items = colnames(likert), keys = likert_keys),
                           omega_ref(likert, 3, likert_keys))
# No keys: psych flips items whose general-factor loading is negative.
ref$omega$likert7_nf3_flip <- c(list(file = "likert7.csv", items = colnames(likert), keys = NULL),
                                omega_ref(likert, 3))

# ---------------------------------------------------------------- ICC: Shrout & Fleiss (1979) Table 2
sf <- matrix(c(9, 2, 5, 8, 6, 1, 3, 2, 8, 4, 6, 8, 7, 1, 2, 6, 10, 5, 6, 9, 6, 2, 4, 7),
             ncol = 4, byrow = TRUE)
colnames(sf) <- paste0("J", 1:4)
write.csv(sf, out("shrout_fleiss.csv"), row.names = FALSE)
ref$icc$shrout_fleiss <- icc_ref(as.data.frame(sf), TRUE)

# Complete data whose ANOVA rater component is negative (MS raters < MS error): psych's lmer
# estimate sits on the boundary (rater variance 0), so the REML path differs from the ANOVA one.
seed <- 1
repeat {
  set.seed(seed)
  xb <- matrix(round(rnorm(30)[rep(1:30, 4)] + rnorm(120, 0, 1.2), 1), 30, 4)
  aov_ms <- summary(aov(v ~ factor(s) + factor(j), data = data.frame(v = c(xb), s = rep(1:30, 4), j = rep(1:4, each = 30))))[[1]][["Mean Sq"]]
  if (aov_ms[2] < aov_ms[3]) break
  seed <- seed + 1
}
colnames(xb) <- paste0("R", 1:4)
write.csv(xb, out("icc_boundary.csv"), row.names = FALSE)
ref$icc$boundary <- c(icc_ref(as.data.frame(xb), TRUE), list(seed = seed))
ref$icc$boundary_anova <- icc_ref(as.data.frame(xb), FALSE)

# ---------------------------------------------------------------- G theory: lme4 REML
vc <- function(fit) {
  v <- as.data.frame(lme4::VarCorr(fit))
  setNames(as.list(v$vcov), v$grp)
}
# Brennan (2001) Synthetic Data Set No. 3 (p x i x o); balanced, so REML = ANOVA.
brennan <- read.csv(out("brennan_2001_synthetic3.csv"))
for (f in c("person", "item", "occasion")) brennan[[f]] <- factor(brennan[[f]])
fb <- lmer(score ~ 1 + (1 | person) + (1 | item) + (1 | occasion) + (1 | person:item) +
             (1 | person:occasion) + (1 | item:occasion), data = brennan, REML = TRUE)
ref$gtheory$brennan_lmer <- vc(fb)

# Unbalanced p x i x o: 20 objects, 6 items, 4 variants, 25% of cells dropped at random.
set.seed(7)
np <- 20; ni <- 6; no <- 4
d <- expand.grid(object = 1:np, item = 1:ni, variant = 1:no)
sd <- c(p = 1.0, i = 0.7, o = 0.4, pi = 0.6, po = 0.5, io = 0.3, e = 0.8)
ep <- rnorm(np, 0, sd["p"]); ei <- rnorm(ni, 0, sd["i"]); eo <- rnorm(no, 0, sd["o"])
epi <- matrix(rnorm(np * ni, 0, sd["pi"]), np); epo <- matrix(rnorm(np * no, 0, sd["po"]), np)
eio <- matrix(rnorm(ni * no, 0, sd["io"]), ni)
d$score <- 3 + ep[d$object] + ei[d$item] + eo[d$variant] + epi[cbind(d$object, d$item)] +
  epo[cbind(d$object, d$variant)] + eio[cbind(d$item, d$variant)] + rnorm(nrow(d), 0, sd["e"])
d <- d[sort(sample(nrow(d), round(0.75 * nrow(d)))), ]
write.csv(d, out("gtheory_unbalanced_pio.csv"), row.names = FALSE)
df <- transform(d, object = factor(object), item = factor(item), variant = factor(variant))
fu <- lmer(score ~ 1 + (1 | object) + (1 | item) + (1 | variant) + (1 | object:item) +
             (1 | object:variant) + (1 | item:variant), data = df, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
ref$gtheory$unbalanced_pio <- c(vc(fu), list(REMLcrit = as.numeric(lme4::REMLcrit(fu)),
                                             intercept = unname(lme4::fixef(fu)[1])))

# p x v with 1-3 replicate samples per cell (within-cell error separable from p:v).
set.seed(11)
np <- 25; nv <- 5
cells <- expand.grid(object = 1:np, variant = 1:nv)
ep <- rnorm(np, 0, 1.2); ev <- rnorm(nv, 0, 0.5); epv <- matrix(rnorm(np * nv, 0, 0.6), np)
reps <- sample(1:3, nrow(cells), replace = TRUE)
d2 <- cells[rep(seq_len(nrow(cells)), reps), ]
d2$replicate <- sequence(reps)
d2$score <- 10 + ep[d2$object] + ev[d2$variant] + epv[cbind(d2$object, d2$variant)] +
  rnorm(nrow(d2), 0, 0.7)
write.csv(d2, out("gtheory_replicates_pv.csv"), row.names = FALSE)
d2f <- transform(d2, object = factor(object), variant = factor(variant))
fr <- lmer(score ~ 1 + (1 | object) + (1 | variant) + (1 | object:variant), data = d2f, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-10)))
ref$gtheory$replicates_pv <- c(vc(fr), list(REMLcrit = as.numeric(lme4::REMLcrit(fr))))

writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out("reference.json"))
cat("wrote", out("reference.json"), "\n")
