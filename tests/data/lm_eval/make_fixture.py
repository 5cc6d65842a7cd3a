"""Writes the lm-evaluation-harness per-sample logs in this folder (run once; output committed).

Format: lm-eval 0.4 `lm_eval --log_samples --output_path OUT`, i.e. OUT/<org>__<model>/samples_<task>_<date>.jsonl,
one JSON record per document (and per filter) with the keys written by lm_eval.evaluator.evaluate: doc_id, doc,
target, arguments ({"gen_args_k": {"arg_0": context, "arg_1": continuation or generation kwargs}}), resps,
filtered_resps, filter, metrics, doc_hash / prompt_hash / target_hash (sha256 as lm-eval hash_string), and the
per-sample metric values (acc, acc_norm for arc_easy, a multiple-choice task; exact_match for gsm8k, a generation
task logged under two filters, strict-match and flexible-extract).  Documents are the first ARC-Easy and GSM8K
test questions; the model answers are made up.
"""

import hashlib
import json
from pathlib import Path


def h(s): return hashlib.sha256(s.encode("utf-8")).hexdigest()
root = Path(__file__).parent
arc = [
 {"id": "Mercury_7175875", "question": "An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?", "choices": {"text": ["Planetary density will decrease.", "Planetary years will become longer.", "Planetary days will become shorter.", "Planetary gravity will become stronger."], "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
 {"id": "Mercury_SC_409171", "question": "A group of engineers wanted to know how different building designs would respond during an earthquake. They made several models of buildings and tested each for its ability to withstand earthquake conditions. Which will most likely result from testing different building designs?", "choices": {"text": ["buildings will be built faster", "buildings will be made safer", "building designs will look nicer", "building materials will be cheaper"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
 {"id": "Mercury_SC_408547", "question": "The end result in the process of photosynthesis is the production of sugar and oxygen. Which step signals the beginning of photosynthesis?", "choices": {"text": ["Chemical energy is absorbed through the roots.", "Light energy is converted to chemical energy.", "Chlorophyll in the leaf captures light energy.", "Sunlight is converted into chlorophyll."], "label": ["A", "B", "C", "D"]}, "answerKey": "C"},
 {"id": "Mercury_407327", "question": "A physicist wants to determine the speed a car must reach to jump over a ramp. The physicist conducts three trials. In trials two and three, the speed of the car is increased by 20 miles per hour. What is the physicist investigating when he changes the speed?", "choices": {"text": ["the control", "the hypothesis statement", "the dependent (responding) variable", "the independent (manipulated) variable"], "label": ["A", "B", "C", "D"]}, "answerKey": "D"},
]
gsm = [
 {"question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?", "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"},
 {"question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?", "answer": "Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $<<0.2*50=10>>10.\n#### 10"},
 {"question": "Betty is saving money for a new wallet which costs $100. Betty has only half of the money she needs. Her parents decided to give her $15 for that purpose, and her grandparents twice as much as her parents. How much more money does Betty need to buy the wallet?", "answer": "In the beginning, Betty has only 100 / 2 = $<<100/2=50>>50.\nBetty's grandparents gave her 15 * 2 = $<<15*2=30>>30.\nThis means, Betty needs 100 - 50 - 30 - 15 = $<<100-50-30-15=5>>5 more.\n#### 5"},
]
# which arc choice each model prefers (argmax loglik), and gsm answers
models = {
 "EleutherAI__pythia-160m": {"arc": [0, 1, 3, 2], "gsm": ["24", "600", "50"]},
 "EleutherAI__pythia-1b": {"arc": [2, 1, 0, 2], "gsm": ["72", "600", "30"]},
 "EleutherAI__pythia-2.8b": {"arc": [2, 1, 2, 3], "gsm": ["72", "10", "30"]},
}
stamp = "2024-06-01T12-00-00.123456"
for mdir, spec in models.items():
    d = root / mdir; d.mkdir(parents=True, exist_ok=True)
    with open(d / f"samples_arc_easy_{stamp}.jsonl", "w") as fh:
        for i, doc in enumerate(arc):
            ctx = f"Question: {doc['question']}\nAnswer:"
            gold = doc["choices"]["label"].index(doc["answerKey"])
            pick = spec["arc"][i]
            lls = [round(-8.0 - 1.7 * abs(k - pick) - 0.13 * k, 4) for k in range(4)]
            args = {f"gen_args_{k}": {"arg_0": ctx, "arg_1": " " + t} for k, t in enumerate(doc["choices"]["text"])}
            rec = {"doc_id": i, "doc": doc, "target": gold, "arguments": args,
                   "resps": [[[str(ll), "False"]] for ll in lls], "filtered_resps": [[str(ll), "False"] for ll in lls],
                   "filter": "none", "metrics": ["acc", "acc_norm"],
                   "doc_hash": h(json.dumps(doc, indent=2, ensure_ascii=False)), "prompt_hash": h(ctx),
                   "target_hash": h(str(gold)), "acc": 1.0 if pick == gold else 0.0, "acc_norm": 1.0 if pick == gold else 0.0}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with open(d / f"samples_gsm8k_{stamp}.jsonl", "w") as fh:
        for i, doc in enumerate(gsm):
            ctx = f"Question: {doc['question']}\nAnswer:"
            target = doc["answer"]
            gold = target.split("#### ")[-1]
            out = f" Let's think. The answer is {spec['gsm'][i]}.\n#### {spec['gsm'][i]}"
            gen = {"until": ["Question:", "</s>", "<|im_end|>"], "do_sample": False, "temperature": 0.0}
            for filt in ("strict-match", "flexible-extract"):
                got = spec["gsm"][i] if filt == "flexible-extract" or i != 1 else "[invalid]"
                rec = {"doc_id": i, "doc": doc, "target": target,
                       "arguments": {"gen_args_0": {"arg_0": ctx, "arg_1": gen}},
                       "resps": [[out]], "filtered_resps": [got], "filter": filt, "metrics": ["exact_match"],
                       "doc_hash": h(json.dumps(doc, indent=2, ensure_ascii=False)), "prompt_hash": h(ctx),
                       "target_hash": h(target), "exact_match": 1.0 if got == gold else 0.0}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
