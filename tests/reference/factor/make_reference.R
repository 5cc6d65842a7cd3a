# Golden numbers for psychoml.stats.factor (EFA, parallel analysis, MAP, KMO,
# Bartlett, CFA, measurement invariance).
#
# Run from the repository root:
#   Rscript tests/reference/factor/make_reference.R
# Produced with R psych 2.2.9, GPArotation 2022.10-2, lavaan 0.6-14,
# semTools 0.5-6 (Debian r-cran-* packages).  Writes, next to this script:
#   hs1939.csv           lavaan::HolzingerSwineford1939 (all 301 rows)
#   bfi25.csv            psych::bfi, the 25 personality items (2800 rows, NAs kept)
#   efa_reference.json   KMO, Bartlett, psych::fa solutions, fa.parallel, VSS MAP
#   cfa_reference.json   lavaan::cfa fits (fit measures + parameter estimates)
#   invariance_reference.json  configural / metric / scalar / strict by school
suppressPackageStartupMessages({
  library(psych); library(GPArotation); library(lavaan); library(semTools); library(jsonlite)
})

out_dir <- "tests/reference/factor"
hs <- lavaan::HolzingerSwineford1939
write.csv(hs, file.path(out_dir, "hs1939.csv"), row.names = FALSE)
data(bfi, package = "psych")
bfi25 <- bfi[, 1:25]
write.csv(bfi25, file.path(out_dir, "bfi25.csv"), row.names = FALSE, na = "")

# Re-read the CSVs so R and Python analyse byte-identical data.
hs <- read.csv(file.path(out_dir, "hs1939.csv"))
bfi25 <- read.csv(file.path(out_dir, "bfi25.csv"))
hs9 <- hs[, paste0("x", 1:9)]
datasets <- list(hs = list(data = hs9, nf = 3), bfi = list(data = bfi25, nf = 5))

mat_out <- function(m) {
  m <- unclass(m)
  list(rownames = rownames(m), colnames = colnames(m), values = unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))))
}

# ---------------------------------------------------------------- KMO, Bartlett
kmo_bartlett <- lapply(datasets, function(d) {
  k <- KMO(d$data)
  b <- suppressMessages(cortest.bartlett(d$data))
  list(msa = k$MSA, msa_items = as.list(k$MSAi), chisq = b$chisq, df = b$df, p_value = b$p.value,
       n = nrow(d$data))
})

# ---------------------------------------------------------------- EFA (psych::fa)
specs <- list(
  c("minres", "oblimin"), c("ml", "varimax"), c("pa", "promax"), c("minres", "geominQ"),
  c("ml", "oblimin"), c("minres", "varimax"), c("pa", "none"), c("ml", "geominQ")
)
efa <- list()
for (dn in names(datasets)) {
  for (s in specs) {
    f <- suppressWarnings(fa(datasets[[dn]]$data, nfactors = datasets[[dn]]$nf, fm = s[1], rotate = s[2]))
    efa[[length(efa) + 1]] <- list(
      dataset = dn, fm = s[1], rotate = s[2], nfactors = datasets[[dn]]$nf,
      loadings = mat_out(f$loadings),
      communality = unname(f$communality),
      uniquenesses = unname(f$uniquenesses),
      phi = if (is.null(f$Phi)) NULL else mat_out(f$Phi),
      values = unname(f$values), e_values = unname(f$e.values)
    )
  }
}

# ---------------------------------------------------------------- parallel analysis, MAP
# fa.parallel is random; record its choice over several seeds to show the
# choice is stable on these data (the Python test compares against it).
parallel <- list()
for (dn in names(datasets)) {
  d <- datasets[[dn]]$data
  for (sim in c(TRUE, FALSE)) {
    nfact <- c(); ncomp <- c()
    for (seed in 1:5) {
      set.seed(seed)
      p <- suppressWarnings(suppressMessages(capture.output(pp <- fa.parallel(d, plot = FALSE, sim = sim, n.iter = 20))))
      nfact <- c(nfact, pp$nfact); ncomp <- c(ncomp, pp$ncomp)
    }
    parallel[[length(parallel) + 1]] <- list(
      dataset = dn, method = if (sim) "simulated" else "resampled",
      nfact = nfact, ncomp = ncomp,
      fa_values = unname(pp$fa.values), pc_values = unname(pp$pc.values)
    )
  }
}
map <- lapply(datasets, function(d) {
  v <- VSS(d$data, n = 8, plot = FALSE)
  list(map = unname(v$map), n_factors = which.min(v$map))
})

write_json(list(kmo_bartlett = kmo_bartlett, efa = efa, parallel = parallel, map = map,
                versions = list(psych = as.character(packageVersion("psych")),
                                GPArotation = as.character(packageVersion("GPArotation")))),
           file.path(out_dir, "efa_reference.json"), digits = NA, auto_unbox = TRUE, null = "null", pretty = FALSE)

# ---------------------------------------------------------------- CFA (lavaan)
measures <- c("npar", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
              "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "aic", "bic", "logl")
pe_out <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (is.null(pe$group)) pe$group <- 1L
  pe <- pe[pe$op %in% c("=~", "~~", "~1"), c("lhs", "op", "rhs", "group", "est", "se", "std.lv", "std.all")]
  rownames(pe) <- NULL
  pe
}
cfa_models <- list(
  hs3 = list(model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", std.lv = FALSE),
  cross_loading = list(model = "visual =~ x1 + x2 + x3 + x9\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", std.lv = FALSE),
  residual_cov = list(model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\nx7 ~~ x8\nvisual ~~ 0*speed", std.lv = FALSE),
  hs3_std_lv = list(model = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", std.lv = TRUE),
  free_marker = list(model = "visual =~ NA*x1 + 1*x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9", std.lv = FALSE),
  equal_labels = list(model = "visual =~ x1 + a*x2 + a*x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\nx4 ~~ b*x4\nx5 ~~ b*x5", std.lv = FALSE)
)
cfa_out <- list()
for (nm in names(cfa_models)) {
  m <- cfa_models[[nm]]
  fit <- cfa(m$model, data = hs, std.lv = m$std.lv)
  cfa_out[[nm]] <- list(model = m$model, std_lv = m$std.lv, fit = as.list(fitMeasures(fit, measures)),
                        estimates = pe_out(fit))
}
write_json(list(models = cfa_out, versions = list(lavaan = as.character(packageVersion("lavaan")))),
           file.path(out_dir, "cfa_reference.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE)

# ---------------------------------------------------------------- invariance (lavaan + semTools)
hs_model <- cfa_models$hs3$model
configural <- cfa(hs_model, data = hs, group = "school")
metric <- cfa(hs_model, data = hs, group = "school", group.equal = "loadings")
scalar <- cfa(hs_model, data = hs, group = "school", group.equal = c("loadings", "intercepts"))
strict <- cfa(hs_model, data = hs, group = "school", group.equal = c("loadings", "intercepts", "residuals"))
lrt <- lavTestLRT(configural, metric, scalar, strict)
cf <- compareFit(configural = configural, metric = metric, scalar = scalar, strict = strict)
fd <- cf@fit.diff
steps <- list()
for (nm in c("configural", "metric", "scalar", "strict")) {
  fit <- get(nm)
  steps[[nm]] <- list(fit = as.list(fitMeasures(fit, measures)), estimates = pe_out(fit))
}
write_json(list(
  group_labels = lavInspect(configural, "group.label"),
  steps = steps,
  lrt = list(chisq_diff = unname(lrt[["Chisq diff"]]), df_diff = unname(lrt[["Df diff"]]),
             p_value = unname(lrt[["Pr(>Chisq)"]])),
  fit_diff = list(rows = rownames(fd), cfi = unname(fd$cfi), rmsea = unname(fd$rmsea)),
  versions = list(lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools")))
), file.path(out_dir, "invariance_reference.json"), digits = NA, auto_unbox = TRUE, pretty = FALSE)
cat("done\n")
