#!/usr/bin/env python3
"""Writes the labelled development sets of tests/intents/ (see README.md there).

Every utterance core below was written by hand for this repository; nothing is taken from a
third-party corpus. The script only varies the cores the way a speech recogniser's output
varies: fillers, repetitions, self-corrections, homophone errors, dropped or doubled
characters, a social word from another intent before or after the request. It is
deterministic (a fixed seed, Python's `random` with no hash randomisation involved), so
running it again writes the same files:

    python3 tests/intents/make_collection.py
"""

import csv
import hashlib
import io
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------
# Slots: `{today}` `{tomorrow}` `{later}` `{amt}` `{who}` `{reason}` in a core are filled from
# these lists.
SLOTS = {
    "today": ["今天", "今天下午", "今天晚上", "一会儿", "等下", "中午", "下午", "晚上", "今天之内", "待会儿"],
    "tomorrow": ["明天", "明天上午", "明天中午", "明天下午", "明儿", "明天一早", "明天晚上"],
    "later": ["后天", "下周", "下个礼拜", "月底", "十五号", "二十号", "下个月", "下个月五号", "周五",
              "礼拜六", "三号", "过几天", "这个月底", "下周一", "二十五号", "发工资那天", "十号"],
    "amt": ["五百", "一千", "两千", "三百", "一千五", "两千块", "八百", "五千", "三千二", "一千二百",
            "六百多", "四千", "两百"],
    "who": ["老公", "老婆", "儿子", "女儿", "爸爸", "妈妈", "哥哥", "弟弟", "姐姐", "妹妹", "同事", "朋友"],
    "reason": ["工资还没发", "手头紧", "生意不好", "家里出了点事", "刚交了房租", "孩子上学要交钱"],
}

# ---------------------------------------------------------------------------------------------
# Intents: (name, how many utterances, cores). Counts are deliberately uneven, as in a real
# bot's log: promises, "already paid" and "no money" are common, lawyers and closed accounts rare.
INTENTS = [
    ("greeting", 60, [
        "喂", "喂你好", "你好", "喂喂", "哎你好", "喂哪位你好", "你好你好", "喂您好", "哎喂", "喂,你好啊",
        "你好请讲", "喂,说", "嗯你好", "喂,你说", "喂喂你好",
    ]),
    ("confirm_identity", 110, [
        "是我", "我就是", "是本人", "对是我", "我是", "对对对是我", "嗯我就是", "本人", "是的是我本人",
        "我是他本人", "你说吧我就是", "对,我就是那个", "嗯是我啊", "是我是我", "对的我本人", "就是我",
        "是我有什么事", "嗯对我是", "我就是本人啊", "对我姓王", "是我,怎么了",
    ]),
    ("wrong_number", 75, [
        "你打错了", "打错了吧", "我不认识这个人", "没有这个人", "你找错人了", "这个号码不是他的",
        "我不是你说的那个人", "我这号码刚办的", "这是新号不认识", "你们打错电话了", "不认识啊打错了",
        "我不叫这个名字", "这号我用了好多年了不认识他", "没这个人你打错了", "找错了我不是",
    ]),
    ("family_member", 90, [
        "我是他{who}", "他不在家", "我是他家里人", "他出去了我是他{who}", "他人不在你有什么事跟我说",
        "我是他{who}有什么事", "他去外地打工了", "他手机在我这", "他在上班手机放家里了", "我帮他转告",
        "你跟我说就行我是他{who}", "他出差了不在", "他{who}接的电话", "他人在医院我是家属", "我是她{who}",
        "这是他{who}的手机", "他不在旁边我是他家属",
    ]),
    ("busy_now", 100, [
        "我在开会", "在开车呢", "我现在在忙", "正在上班不方便", "我在外面", "现在不方便接电话",
        "我在忙着呢", "开车呢不方便", "我在工地上", "我在吃饭", "正在开会不方便说", "我这边在忙",
        "在地铁上听不太方便", "我在带孩子", "我现在走不开", "上班时间不能接电话", "我在医院排队呢",
    ]),
    ("call_later", 95, [
        "你晚点再打", "等会再打过来", "你下午再打吧", "过一会儿再说", "晚上再打给我", "你明天再打吧",
        "回头再联系", "改天再说吧", "半个小时以后再打", "你过会儿再打来", "等我下班了再打", "晚一点再说",
        "你一会儿再打", "迟点打给我", "你明天上午再打", "等下再联系吧",
    ]),
    ("wait_moment", 40, [
        "你等一下", "稍等一下", "等一下我看看", "你等会儿我找一下", "稍等我查一下", "等我一下啊",
        "你先别挂", "等一下我拿个笔", "我看一下啊", "等等我看下短信",
    ]),
    ("promise_today", 150, [
        "{today}就还", "我{today}还", "{today}会还的", "{today}就转过去", "{today}之前肯定还上",
        "{today}我就存进去", "我{today}把钱存进去", "{today}给你还上", "{today}下班就去还",
        "行,{today}还", "{today}一定还", "{today}处理掉", "我{today}去银行存", "今天下午三点之前还",
        "{today}晚上之前还清", "我等下就还好吧", "一会儿就去还", "{today}把最低还款还了",
    ]),
    ("promise_tomorrow", 120, [
        "明天还", "明天就还", "我明天还", "明天一定还上", "明天给你还", "明天上午就存进去",
        "{tomorrow}还", "{tomorrow}我去还", "{tomorrow}之前还上", "明天发工资就还", "明天肯定还",
        "最晚明天", "明天转给你", "{tomorrow}把钱打进去", "今天没空明天还", "我明天去银行还",
        "{tomorrow}一定处理", "明天吧明天还",
    ]),
    ("promise_date_later", 130, [
        "{later}还", "{later}就还", "我{later}还", "{later}发工资了还", "{later}一定还上", "等{later}再还",
        "{later}之前还清", "最晚{later}", "{later}给你还了", "{later}才能还", "{reason},{later}还",
        "现在没钱,{later}还", "{later}钱到了就还", "等发工资吧{later}", "{later}左右还", "{later}我一次性还清",
        "可能要{later}才有钱", "{later}肯定还",
    ]),
    ("already_paid", 150, [
        "我已经还了", "早就还了", "已经还清了", "昨天就还了", "我还过了", "已经存进去了", "我前天就转了",
        "已经扣了", "我上午已经还了", "钱已经打进去了", "我已经还完了啊", "已经处理好了", "都已经还了",
        "我们已经把这个钱存进去了", "我在支付宝上已经还了", "刚刚还进去了", "已经交了啊你们查一下",
        "上个月就还清了", "我老婆已经帮我还了", "已经还了怎么还打", "我手机银行已经还了",
        "前几天就还了你们没收到吗",
    ]),
    ("paying_now", 70, [
        "我现在就还", "正在还", "我在转了", "马上还马上还", "我这就去还", "正在操作", "我现在在转账",
        "我在弄了", "现在就打过去", "正在还款了", "我手机上正在还", "马上转马上转", "我现在去存",
        "已经在操作了", "这就还这就还",
    ]),
    ("no_money", 150, [
        "没钱", "我没钱", "现在没钱还", "真的没有钱", "手头紧", "我现在一分钱都没有", "没钱还啊",
        "拿不出来", "我也想还但是没钱", "实在没钱", "钱不够", "我身上没钱", "{reason}没钱",
        "没有钱你让我怎么还", "现在经济困难", "我真的没钱了", "家里也没钱", "没钱我有什么办法",
        "借不到钱", "到处借钱都借不到", "这个月实在拿不出",
    ]),
    ("lost_job", 60, [
        "我失业了", "工作没了", "公司倒闭了", "我被辞退了", "最近没工作", "厂子关门了", "我下岗了",
        "疫情以后一直没上班", "被裁员了", "找不到工作", "公司拖欠工资好几个月", "没有收入了",
        "生意做赔了店都关了", "现在在家待业",
    ]),
    ("sick", 55, [
        "我生病了", "在住院", "我住院了", "刚做完手术", "身体不好在治病", "家里人生病了要花钱",
        "我在医院", "病了好几个月", "我老婆住院了", "孩子生病了钱都花光了", "我得了重病", "在做化疗",
        "腿摔断了没法上班",
    ]),
    ("partial_payment", 70, [
        "先还一部分", "我先还{amt}", "能不能先还{amt}", "先还一点行不行", "只能先还{amt}", "我先还个最低",
        "先还一半", "剩下的下个月还", "我先转{amt}过去", "一次还不了先还一点", "先还{amt}剩下的慢慢还",
        "我只有{amt}", "最低还款行吗", "先还利息行不行",
    ]),
    ("ask_amount", 105, [
        "欠多少钱", "我欠了多少", "要还多少", "一共多少钱", "总共欠多少", "现在要还多少钱", "还差多少",
        "多少钱啊", "最低还多少", "这个月要还多少", "欠款是多少", "你说多少钱", "到底欠多少",
        "本金多少", "一共要还多少啊",
    ]),
    ("ask_due_date", 60, [
        "什么时候到期", "最晚什么时候还", "还款日是哪天", "几号之前还", "哪天到期", "什么时候还款",
        "截止到什么时候", "最后期限是哪天", "还款日是几号啊", "哪天之前要还上", "到期日是什么时候",
    ]),
    ("ask_who", 80, [
        "你是哪里", "你是谁", "哪个银行的", "你们哪里的", "什么银行", "你是哪位", "你哪个公司的",
        "你们是干什么的", "找我什么事", "你是什么单位的", "有什么事吗", "你是哪个", "哪里打来的",
        "你是银行的吗", "你们是什么平台",
    ]),
    ("ask_how_to_pay", 80, [
        "怎么还", "还到哪里", "怎么还款", "在哪里还", "用什么还", "还到哪个卡上", "能不能微信还",
        "支付宝能还吗", "手机银行怎么还", "给我个账号", "转到哪个账户", "去哪个网点还", "怎么操作啊",
        "app上怎么还", "能用别的卡还吗",
    ]),
    ("dispute_amount", 65, [
        "怎么这么多", "金额不对", "我没欠这么多", "怎么多了这么多", "不可能欠这么多", "你们算错了吧",
        "我只借了{amt}怎么要还这么多", "这个数不对", "怎么利息比本金还多", "账不对", "多出来的是什么钱",
        "我记得没这么多啊", "这个金额我不认",
    ]),
    ("deny_debt", 60, [
        "我没欠钱", "我不欠你们钱", "我没借过钱", "我从来没借过", "我哪欠钱了", "没有欠款啊",
        "我没有在你们那借钱", "我不欠钱", "谁欠你们钱了", "我根本没借", "我没贷款",
    ]),
    ("stolen_card", 35, [
        "卡丢了", "被人盗刷了", "我的卡被偷了", "不是我刷的是被盗了", "钱被人骗走了", "身份证被人冒用了",
        "卡丢了被人刷了", "我被诈骗了", "有人拿我的卡用了",
    ]),
    ("not_my_card", 30, [
        "这卡不是我办的", "我没办过你们的卡", "我没有你们的卡", "不是我的卡", "我从来没办过信用卡",
        "这个卡我不知道", "我没有这张卡",
    ]),
    ("already_closed", 20, [
        "卡已经注销了", "我已经销户了", "早就销卡了", "账户已经注销了", "这个卡早就不用了也注销了",
        "我办了销户的",
    ]),
    ("refuse_to_pay", 75, [
        "我不还", "不还了", "就不还", "爱咋咋地", "我不会还的", "没打算还", "你们爱怎么样怎么样",
        "我就不还你能怎么样", "不还又怎么样", "要钱没有要命一条", "随便你们", "我不想还",
        "不还你告我去吧", "就是不还",
    ]),
    ("angry_abuse", 70, [
        "滚", "你有病吧", "神经病", "烦不烦啊", "烦死了", "你他妈的", "滚蛋", "有完没完",
        "天天打烦不烦", "闭嘴", "去死吧", "什么玩意儿", "别烦我", "你们这些人真恶心", "讨厌死了",
    ]),
    ("complaint", 60, [
        "我要投诉你们", "投诉", "我要投诉", "你们这服务太差了", "态度这么差", "一天打好几个电话我要投诉",
        "你工号多少我要投诉你", "我要投诉你们催收", "打电话打到我单位去了我要投诉", "你们这样合法吗",
        "打我家里人电话算什么",
    ]),
    ("threaten_report", 40, [
        "我要报警", "我去银保监会举报你们", "我打12378", "我要曝光你们", "我去监管部门举报",
        "我报警了", "我打一二三七八投诉", "发到网上曝光", "我去人民银行举报", "我找记者",
    ]),
    ("lawyer", 25, [
        "你让我律师跟你说", "要起诉就起诉吧", "法院见", "我找律师", "你去告吧", "我已经请律师了",
        "是不是要起诉我", "走法律程序吧",
    ]),
    ("request_human", 60, [
        "转人工", "我要人工", "找人工客服", "我要跟真人说", "能不能换个人工", "你是机器人吧我要人工",
        "让你们经理来", "叫你们领导接电话", "人工服务", "转人工客服", "我不跟机器说话", "有没有真人",
    ]),
    ("request_installment", 70, [
        "能不能分期", "我想分期还", "可以分期吗", "办个分期", "分几期还行不行", "能分十二期吗",
        "分期还款怎么办理", "我申请分期", "能不能分期慢慢还", "一次还不上能分期吗", "帮我办个分期吧",
        "停息分期可以吗", "个性化分期",
    ]),
    ("request_extension", 65, [
        "能不能宽限几天", "再宽限一下", "能延期吗", "晚几天还行不行", "再给我几天时间", "推迟一下",
        "能不能往后延一延", "宽限到{later}", "延期还款可以吗", "多给几天时间吧", "缓几天行吗",
        "能不能晚点还", "给我点时间",
    ]),
    ("ask_reduce_fee", 45, [
        "利息能不能减免", "能不能只还本金", "罚息能免吗", "减免一点吧", "能不能少还点", "违约金能不能不要",
        "把利息免了我就还", "能不能打个折", "手续费能免吗", "给我减一点",
    ]),
    ("ask_penalty", 50, [
        "滞纳金多少", "罚息怎么算", "有违约金吗", "逾期利息多少", "晚还要多交多少", "逾期一天多少钱",
        "利息怎么这么算的", "会不会收滞纳金", "罚息是多少", "逾期费用怎么算",
    ]),
    ("ask_credit_impact", 55, [
        "会不会影响征信", "上征信吗", "会不会上黑名单", "影响信用吗", "我征信会不会有问题",
        "会不会影响我贷款买房", "逾期了征信会怎么样", "会不会影响孩子上学", "上了征信能消掉吗",
        "影响不影响我的信用记录",
    ]),
    ("repeat_please", 65, [
        "你说什么", "再说一遍", "什么", "啊", "你说啥", "没听懂", "再说一次", "刚才说什么", "你重复一下",
        "说慢点", "什么意思", "啥意思", "没明白你说的", "你再讲一遍",
    ]),
    ("cannot_hear", 50, [
        "听不清", "信号不好", "听不到", "喂喂听得到吗", "声音太小了", "你那边好吵", "听不见你说话",
        "断断续续的", "大声点", "我这边信号不好",
    ]),
    ("affirm", 130, [
        "对", "是的", "嗯", "好的", "可以", "对对对", "嗯嗯", "好", "行", "没问题", "知道了", "好好好",
        "对的", "明白", "嗯对", "可以可以", "行行行", "是是是", "好吧", "清楚了", "OK", "嗯好的",
    ]),
    ("deny", 100, [
        "不是", "没有", "不对", "不用", "不要", "不是的", "没有没有", "不用了", "不需要", "不行",
        "不不不", "没有啊", "不是不是", "不可以", "不了",
    ]),
    ("thanks", 40, [
        "谢谢", "好的谢谢", "谢谢你", "麻烦你了", "谢谢啊", "好的谢谢你提醒", "辛苦了", "感谢",
    ]),
    ("goodbye", 45, [
        "拜拜", "再见", "先这样", "挂了", "就这样吧", "好了挂了", "先挂了啊", "拜拜拜", "那就这样",
    ]),
    ("will_handle", 100, [
        "我知道了会处理的", "我尽快处理", "我会还的", "尽快还", "知道了我会处理", "我会想办法的",
        "我想办法还", "我尽量还", "会还的你放心", "处理一下", "我会安排的", "我尽快凑钱", "我去处理",
        "放心吧不会赖账的", "我会尽快还上的", "我记住了会还的",
    ]),
    ("payment_failed", 45, [
        "还不进去", "扣款失败", "转不进去", "一直显示失败", "提示交易失败", "我转了被退回来了",
        "系统说还款失败", "卡里有钱扣不了", "还款一直不成功", "转账显示错误",
    ]),
    ("autopay_issue", 35, [
        "不是自动扣款吗", "不是说自动扣的吗", "卡里有钱怎么没扣", "我绑定了自动还款", "为什么没有自动扣",
        "自动还款没扣成功吗", "我设置了自动扣款的",
    ]),
    ("bank_transfer_delay", 30, [
        "我转了还没到账吧", "跨行转账要两天", "可能还没到账", "到账有延迟吧", "昨天转的今天才到",
        "转过去了你们那边还没显示吗", "银行说要二十四小时到账",
    ]),
    ("suspect_fraud", 45, [
        "你是不是骗子", "骗子吧", "诈骗电话", "你是骗人的吧", "我怎么知道你是真的", "是不是诈骗啊",
        "我不信你", "你怎么证明你是银行的", "现在骗子太多了", "我要挂了去问银行",
    ]),
    ("stop_calling", 55, [
        "别再打了", "不要再打了", "别给我打电话", "以后别打了", "不要再打电话来了", "不要骚扰我",
        "别打了", "再打我就拉黑", "把我号码删了", "别再打给我家里人", "不要打给我", "说了别打了",
    ]),
    ("other", 70, [
        "嗯那个", "这个这个", "哎呀", "我在看电视", "今天天气不好", "什么东西", "我想想", "那个那个那个",
        "喂喂喂喂", "哦哦", "哈哈", "孩子在哭", "你们那边下雨了吗", "我在吃饭你说", "嗯嗯嗯那个",
        "我问一下那个", "啊这个", "算了算了", "我也不知道", "看看吧",
    ]),
]

# ---------------------------------------------------------------------------------------------
# How a recogniser's output differs from what was said.
LEAD_FILLERS = ["嗯", "啊", "喂", "哎", "那个", "就是", "嗯嗯", "哦", "呃", "喂你好", "哎呀", "那", "这个",
                "嗯那个", "就是说", "我跟你说", "你好"]
TAIL_FILLERS = ["啊", "吧", "嘛", "哈", "呢", "了", "好吧", "知道吧", "好好好", "好不好", "啊好", "对吧", "嗯",
                "行吧", "哎"]
MID_FILLERS = ["那个", "就是", "嗯", "然后", "就是说", "这个", "啊"]
# Homophones and near-homophones a Mandarin recogniser confuses, and insertions like 取→窃取.
HOMOPHONES = [
    ("还", "换"), ("还", "环"), ("钱", "前"), ("知道", "指导"), ("已经", "一经"), ("账", "帐"),
    ("卡", "咔"), ("利息", "力息"), ("逾期", "预期"), ("分期", "份期"), ("工资", "公司"),
    ("明天", "名天"), ("律师", "律是"), ("投诉", "头诉"), ("征信", "正信"), ("罚息", "罚习"),
    ("转账", "专账"), ("存进去", "存近去"), ("取", "窃取"), ("下个月", "下各月"), ("是", "事"),
    ("在", "再"), ("的", "得"), ("没有", "美有"), ("处理", "出理"), ("银行", "音行"), ("还款", "还宽"),
    ("本人", "本仁"), ("打错", "大错"), ("十五", "是五"), ("四", "是"), ("宽限", "宽线"),
    ("滞纳金", "至纳金"), ("违约金", "为约金"), ("人工", "人公"), ("电话", "垫话"),
]
REPEATABLE = ["好", "对", "是", "没有", "不是", "行", "嗯", "等一下", "马上", "我", "那个", "不"]
SELF_CORRECTIONS = [("明天", "不是,后天"), ("今天", "呃明天"), ("五百", "不对,八百"),
                    ("下周", "下下周"), ("我", "我我"), ("还", "还那个还")]
# Social words said before or after the real request (so a turn holds several intents' words).
PREFIXES = ["喂你好,", "是我,", "嗯对,", "好的,", "知道了,", "哦,", "你好,我知道,", "是的是的,",
            "我跟你说,", "你听我说,", "不是,", "我知道你们是银行的,", "哎呀,", "这个事情啊,"]
SUFFIXES = [",好吧", ",就这样", ",谢谢", ",拜拜", ",知道了", ",行吧", ",好不好", ",你放心",
            ",真的", ",我说的是真的", ",你们别催了"]
# Long rambles: a story before the point.
RAMBLES = ["我跟你讲我这个月真的是家里事情太多了,", "你们天天打电话我也知道我也不想拖,",
           "之前那个我也跟你们同事说过了,", "我这边情况是这样的啊,", "唉说起来就烦,",
           "我也不是不还,你听我说,", "我上次跟那个女的说过了,", "我刚刚在那个开车,"]

SHORT_INTENTS = {"greeting", "affirm", "deny", "repeat_please", "thanks", "goodbye", "other"}


def fill(core, rng):
    out = core
    for name, values in SLOTS.items():
        while "{" + name + "}" in out:
            out = out.replace("{" + name + "}", rng.choice(values), 1)
    return out


def drop_char(text, rng):
    chars = [i for i, c in enumerate(text) if c not in ",，"]
    if len(chars) < 4:
        return text
    i = rng.choice(chars[1:])
    return text[:i] + text[i + 1:]


def double_char(text, rng):
    if len(text) < 2:
        return text
    i = rng.randrange(len(text))
    if text[i] in ",，":
        return text
    return text[:i + 1] + text[i] + text[i + 1:]


def homophone(text, rng):
    options = [(a, b) for a, b in HOMOPHONES if a in text]
    if not options:
        return text
    a, b = rng.choice(options)
    return text.replace(a, b, 1)


def repeat_word(text, rng):
    options = [w for w in REPEATABLE if w in text]
    if not options:
        return text
    w = rng.choice(options)
    n = rng.choice([2, 2, 3])
    return text.replace(w, w * n, 1)


def self_correct(text, rng):
    options = [(a, b) for a, b in SELF_CORRECTIONS if a in text]
    if not options:
        return text
    a, b = rng.choice(options)
    return text.replace(a, a + "," + b, 1) if "," not in b else text.replace(a, a + b, 1)


def punctuate(text, rng):
    r = rng.random()
    if r < 0.25:
        return text.replace(",", "")
    if r < 0.35:
        return text.replace(",", "，")
    if r < 0.40:
        return text.replace(",", " ")
    return text


def messy(core, name, rng):
    text = fill(core, rng)
    short = name in SHORT_INTENTS
    k = 0.4 if short else 1.0
    if rng.random() < 0.35 * k:
        text = rng.choice(LEAD_FILLERS) + ("," if rng.random() < 0.5 else "") + text
    if rng.random() < 0.25 * k:
        text = text + rng.choice(TAIL_FILLERS)
    if rng.random() < 0.15 * k:
        # After a comma or a pronoun, where a speaker pauses; never inside a word.
        cuts = [i + 1 for i, c in enumerate(text[:-1]) if c in ",我你他" and i > 0]
        if cuts:
            i = rng.choice(cuts)
            text = text[:i] + rng.choice(MID_FILLERS) + text[i:]
    if rng.random() < 0.2:
        text = repeat_word(text, rng)
    if rng.random() < 0.2:
        text = homophone(text, rng)
    if rng.random() < 0.08:
        text = self_correct(text, rng)
    if rng.random() < 0.08:
        text = drop_char(text, rng)
    if rng.random() < 0.06:
        text = double_char(text, rng)
    if not short:
        if rng.random() < 0.15:
            text = rng.choice(PREFIXES) + text
        if rng.random() < 0.12:
            text = text + rng.choice(SUFFIXES)
        if rng.random() < 0.07:
            text = rng.choice(RAMBLES) + text
    return punctuate(text, rng)


def compound(cores, name, rng):
    """Two ways of saying the same thing in one turn: "没钱,真的没钱,现在拿不出来"."""
    a, b = rng.sample(cores, 2)
    return messy(a, name, rng) + "," + messy(b, name, rng)


def generate(intents, seed):
    rng = random.Random(seed)
    rows, seen = [], set()
    for name, count, cores in intents:
        made, attempts = 0, 0
        # Every core once (slot-filled, lightly messed up), then variations.
        for core in cores:
            text = fill(core, rng) if rng.random() < 0.5 else messy(core, name, rng)
            if text not in seen and made < count:
                seen.add(text)
                rows.append((text, name))
                made += 1
        while made < count and attempts < count * 50:
            attempts += 1
            if len(cores) > 2 and name not in SHORT_INTENTS and rng.random() < 0.12:
                text = compound(cores, name, rng)
            else:
                text = messy(rng.choice(cores), name, rng)
            text = text.strip(", ，")
            if not text or text in seen:
                continue
            seen.add(text)
            rows.append((text, name))
            made += 1
    rng.shuffle(rows)
    return rows


def in_train(text):
    """The split rule of README.md: SHA-256 of the UTF-8 text, first 8 hex digits as a number,
    modulo 100, below 70 is train."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16) % 100 < 70


def write(path, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["text", "intent"])
    for row in rows:
        w.writerow(row)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())


# ---------------------------------------------------------------------------------------------
# Clean phrases a bot designer would write (these become `phrases`).
TEMPLATES = {
    "greeting": ["喂", "你好", "您好", "喂你好"],
    "confirm_identity": ["是我", "我就是", "本人", "是本人", "我是本人"],
    "wrong_number": ["打错了", "不认识这个人", "没有这个人", "找错人了"],
    "family_member": ["我是他家人", "他不在家", "我是他老婆", "我是他妈妈", "我帮他转告", "我是家属"],
    "busy_now": ["在开会", "在开车", "在忙", "不方便接电话", "在上班"],
    "call_later": ["晚点再打", "等会再打", "下午再打", "明天再打", "改天再说"],
    "wait_moment": ["等一下", "稍等", "我看一下", "别挂"],
    "promise_today": ["今天还", "今天就还", "今天下午还", "今天晚上还", "一会儿就还", "今天存进去"],
    "promise_tomorrow": ["明天还", "明天就还", "明天上午还", "明天存进去", "明天一定还"],
    "promise_date_later": ["下周还", "月底还", "下个月还", "发工资了还", "过几天还", "十五号还"],
    "already_paid": ["已经还了", "还清了", "已经存进去了", "已经转了", "昨天还了"],
    "paying_now": ["正在还", "现在就还", "马上还", "正在转账"],
    "no_money": ["没钱", "没有钱", "手头紧", "拿不出来", "经济困难"],
    "lost_job": ["失业了", "没工作", "公司倒闭", "被裁员", "没有收入"],
    "sick": ["生病了", "住院了", "做手术", "在医院"],
    "partial_payment": ["先还一部分", "先还一点", "最低还款", "先还一半"],
    "ask_amount": ["欠多少", "还多少", "一共多少钱", "最低还多少"],
    "ask_due_date": ["什么时候到期", "最晚什么时候还", "还款日是哪天", "几号之前还"],
    "ask_who": ["你是谁", "哪个银行", "你是哪里", "什么单位", "找我什么事"],
    "ask_how_to_pay": ["怎么还", "还到哪里", "怎么还款", "哪个账户", "微信能还吗"],
    "dispute_amount": ["怎么这么多", "金额不对", "没欠这么多", "算错了"],
    "deny_debt": ["我没欠钱", "没借过钱", "不欠你们钱", "没有贷款"],
    "stolen_card": ["卡丢了", "被盗刷", "卡被偷了", "身份被冒用"],
    "not_my_card": ["不是我办的卡", "没办过你们的卡", "没有这张卡"],
    "already_closed": ["已经注销了", "已经销户了", "销卡了"],
    "refuse_to_pay": ["我不还", "不还了", "不会还的", "爱咋咋地"],
    "angry_abuse": ["滚", "你有病", "神经病", "烦死了", "有完没完"],
    "complaint": ["投诉", "我要投诉", "态度太差", "服务太差"],
    "threaten_report": ["报警", "举报你们", "12378", "曝光你们", "银保监会"],
    "lawyer": ["律师", "起诉", "法院见", "走法律程序"],
    "request_human": ["转人工", "人工客服", "我要人工", "真人"],
    "request_installment": ["分期", "能不能分期", "分期还款", "办分期"],
    "request_extension": ["宽限几天", "延期", "晚几天还", "再给几天时间"],
    "ask_reduce_fee": ["减免", "只还本金", "免利息", "少还点"],
    "ask_penalty": ["滞纳金", "罚息", "违约金多少", "逾期利息"],
    "ask_credit_impact": ["影响征信", "上征信", "黑名单", "信用记录"],
    "repeat_please": ["再说一遍", "你说什么", "没听懂", "重复一下"],
    "cannot_hear": ["听不清", "信号不好", "听不到", "大声点"],
    "affirm": ["是的", "对", "好的", "可以", "没问题", "知道了"],
    "deny": ["不是", "没有", "不对", "不用了", "不需要"],
    "thanks": ["谢谢", "感谢", "麻烦你了", "辛苦了"],
    "goodbye": ["再见", "拜拜", "先这样", "挂了"],
    "will_handle": ["会处理的", "尽快处理", "会还的", "想办法还", "尽快还"],
    "payment_failed": ["还不进去", "扣款失败", "转不进去", "还款失败"],
    "autopay_issue": ["自动扣款", "自动还款", "怎么没扣", "绑定的卡"],
    "bank_transfer_delay": ["还没到账", "跨行转账", "到账延迟", "二十四小时到账"],
    "suspect_fraud": ["骗子", "诈骗", "骗人的", "怎么证明"],
    "stop_calling": ["别再打了", "不要再打了", "别打电话", "不要骚扰我"],
    "other": ["嗯那个", "我想想", "我也不知道"],
}

# ---------------------------------------------------------------------------------------------
# Utterances for the intents of stdlib/zh/common.call (std.zh.common), in the same style.
COMMON = [
    ("yes", 60, [
        "是", "是的", "是我", "对", "对的", "嗯", "嗯嗯", "好的", "可以", "没问题", "行啊", "好啊",
        "我是", "本人", "知道了", "明白了", "需要", "方便", "确认", "确定", "愿意", "同意", "OK", "对对对",
        "是是是", "好吧", "没错", "当然", "要的", "可以的",
    ]),
    ("no", 60, [
        "不是", "不是我", "不对", "不用", "不用了", "不需要", "不要", "没有", "算了", "不想", "不同意",
        "没兴趣", "打错了", "不认识", "我是他老婆", "我是他家人", "他不在", "不太需要", "不行", "不能",
        "不确定", "我不是", "不了", "拒绝", "不感兴趣", "无法确认", "不太愿意",
    ]),
    ("busy", 50, [
        "在忙", "我在开会", "在开车呢", "没空", "没时间", "在上班", "不方便", "现在不太方便", "晚点再打",
        "等会再说", "我在吃饭", "在外面", "改天再联系", "我先确认一下", "有事", "忙着呢", "一会儿再打",
        "下午再说", "在路上", "明天再打",
    ]),
    ("angry", 40, [
        "烦不烦", "烦死了", "你有病吧", "神经病", "滚", "滚蛋", "有完没完", "他妈的", "闭嘴", "少废话",
        "天天打电话", "什么玩意", "讨厌", "别烦我", "一天到晚打",
    ]),
    ("complaint", 40, [
        "我要投诉", "投诉你们", "我要举报", "打12378", "找银保监会", "金融监管局", "打12315", "找消协",
        "我要曝光你们", "告你们", "维权", "人民银行投诉",
    ]),
    ("optout", 50, [
        "不要再打了", "别再打了", "别给我打电话", "不要再联系我", "拉黑", "退订", "取消", "别骚扰我",
        "骚扰电话", "以后别打了", "把我号码删了", "免打扰", "不要打扰我", "别推销了", "确认退订",
        "不要再给我打电话",
    ]),
    ("repeat", 45, [
        "什么", "啥", "再说一遍", "没听清", "听不清", "你说什么", "信号不好", "没听懂", "不明白",
        "重复一下", "说慢点", "大声点", "听不见", "刚才说什么", "确认什么", "对不起没听到",
    ]),
    ("who", 45, [
        "你是谁", "哪位", "哪里打来的", "哪个银行", "什么公司", "什么事", "有什么事", "干嘛的", "骗子吧",
        "是不是诈骗", "真的假的", "是机器人吗", "是真人吗", "怎么有我电话", "你们是谁", "找我什么事",
    ]),
]


def main():
    rows = generate(INTENTS, seed=20261207)
    write(os.path.join(HERE, "collection.csv"), rows)
    write(os.path.join(HERE, "collection_train.csv"), [r for r in rows if in_train(r[0])])
    write(os.path.join(HERE, "collection_test.csv"), [r for r in rows if not in_train(r[0])])
    write(os.path.join(HERE, "collection_templates.csv"),
          [(p, name) for name, _, _ in INTENTS for p in TEMPLATES[name]])
    write(os.path.join(HERE, "common.csv"), generate(COMMON, seed=20261208))


if __name__ == "__main__":
    main()
