#!/usr/bin/env python3
"""Generates each example's customers.csv: a few thousand fictional customers with realistic
names, amounts and time zones. Deterministic (fixed seed), so the files are reproducible.

    python3 examples/generate_customers.py [ROWS]
"""
import csv
import os
import random
import sys
from datetime import date, timedelta

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
HERE = os.path.dirname(os.path.abspath(__file__))

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞鑫波斌宇浩凯辉晨欣怡婷雪琳晶倩颖佳子轩梓涵一诺浩然思远雨桐"
# Most customers are in mainland China; some live abroad and are called in their own zone.
ZONES = [("Asia/Shanghai", 0.80), ("Asia/Hong_Kong", 0.06), ("Asia/Singapore", 0.05),
         ("Europe/London", 0.03), ("America/New_York", 0.03), ("Australia/Sydney", 0.03)]
PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "152", "158", "159", "176", "177", "182", "186", "187", "188", "189", "199"]


def name(rng):
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
    return rng.choice(SURNAMES) + given


def zone(rng):
    x, acc = rng.random(), 0.0
    for z, share in ZONES:
        acc += share
        if x < acc:
            return z
    return ZONES[0][0]


def phones(rng, n):
    seen = set()
    while len(seen) < n:
        seen.add(rng.choice(PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8)))
    return sorted(seen, key=lambda _: rng.random())


def write(folder, header, rows):
    path = os.path.join(HERE, folder, "customers.csv")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def loan(rng):
    rows = []
    for i, phone in enumerate(phones(rng, ROWS), 1):
        days = rng.choice([1, 2, 3, 3, 5, 7, 10, 15, 30, 45, 60, 90])
        amount = round(rng.lognormvariate(8.0, 0.9), 2)
        rows.append([f"L{i:05}", phone, name(rng), days, f"{amount:.2f}", f"{rng.randrange(10000):04}", zone(rng)])
    write("loan_reminder", ["id", "phone", "customer_name", "days_overdue", "amount_due", "account_tail", "timezone"], rows)


def card(rng):
    cards = ["信用卡", "金卡", "白金信用卡", "联名信用卡"]
    rows = []
    for i, phone in enumerate(phones(rng, ROWS), 1):
        waived = rng.random() < 0.7
        fee = "0.00" if waived else rng.choice(["100.00", "200.00", "300.00", "600.00"])
        rows.append([f"C{i:05}", phone, name(rng), f"{rng.randrange(10000):04}", "true" if waived else "false", fee, rng.choice(cards), zone(rng)])
    write("card_activation", ["id", "phone", "customer_name", "card_tail", "annual_fee_waived", "annual_fee", "card_name", "timezone"], rows)


def rfm(rng):
    """Last transaction date, transactions and their total over the year to 2026-11-23 (the
    columns of the campaign's [rfm]): a few very active customers, many occasional ones."""
    count = max(1, int(rng.lognormvariate(1.6, 1.0)))
    last = date(2026, 11, 23) - timedelta(days=min(364, int(rng.expovariate(1 / (20 + 300 / count)))))
    amount = sum(rng.lognormvariate(8.5, 1.1) for _ in range(min(count, 50))) * max(1, count / 50)
    return [last.isoformat(), count, f"{amount:.2f}"]


def wealth(rng, rfm_rng):
    products = [("星海月月盈30天", "2.10%-2.50%", 30, "1000.00", 1), ("星海季季享90天", "2.60%-3.20%", 90, "10000.00", 2),
                ("星海半年享180天", "2.80%-3.40%", 180, "50000.00", 2), ("星海年年丰365天", "3.00%-3.60%", 365, "10000.00", 3),
                ("星海权益精选", "4.00%-6.00%", 365, "10000.00", 4)]
    rows = []
    for i, phone in enumerate(phones(rng, ROWS), 1):
        p = rng.choice(products)
        rows.append([f"W{i:05}", phone, name(rng), p[0], p[1], p[2], p[3], p[4], rng.choice([1, 2, 2, 3, 3, 3, 4, 5]),
                     "true" if rng.random() < 0.85 else "false", zone(rng)] + rfm(rfm_rng))
    write("wealth_marketing", ["id", "phone", "customer_name", "product_name", "rate", "term_days", "min_amount",
                               "product_risk", "customer_risk", "marketing_consent", "timezone",
                               "last_txn_date", "txn_count", "txn_amount"], rows)


def survey(rng):
    services = ["信用卡挂失", "账单分期", "网点开户", "贷款咨询", "手机银行转账", "理财赎回"]
    rows = []
    for i, phone in enumerate(phones(rng, ROWS), 1):
        day = 16 + rng.randrange(7)
        rows.append([f"S{i:05}", phone, name(rng), rng.choice(services), f"2026-11-{day:02}", zone(rng)])
    write("survey", ["id", "phone", "customer_name", "service", "service_date", "timezone"], rows)


if __name__ == "__main__":
    loan(random.Random(1124))
    card(random.Random(1125))
    wealth(random.Random(1126), random.Random(1128))
    survey(random.Random(1127))
