# Reference numbers for tests/test_validity.py: HTMT (semTools) and classical MDS (cmdscale).
# Run: Rscript tests/reference/validity/make_reference.R   (from the repo root)
# Produces hs.csv (lavaan's HolzingerSwineford1939, x1..x9) and reference.json.
suppressPackageStartupMessages({library(lavaan); library(semTools); library(jsonlite)})
out <- "tests/reference/validity"
hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
write.csv(hs, file.path(out, "hs.csv"), row.names = FALSE)
model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
h <- semTools::htmt(model, data = hs, htmt2 = FALSE)
r <- cor(hs)
d <- sqrt(2 * (1 - r))
mds <- cmdscale(d, k = 2, eig = TRUE)
ref <- list(
  htmt = unclass(as.matrix(h)),
  htmt_names = rownames(h),
  cmdscale_points = unname(mds$points),
  cmdscale_eig = mds$eig[1:5],
  r_version = R.version.string,
  semtools_version = as.character(packageVersion("semTools"))
)
writeLines(toJSON(ref, digits = NA, matrix = "rowmajor", auto_unbox = TRUE), file.path(out, "reference.json"))
