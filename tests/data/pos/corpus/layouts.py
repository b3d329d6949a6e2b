"""The corpus layouts (see ``make.py``): how shops in Chinese malls and English-speaking
ones print receipts, each with the fields the extractor must read from it.

``expected`` names only what the layout prints: ``total`` is the amount paid (net),
``payments`` lists ``[method, amount]``, ``doubts`` the doubt names expected (empty:
none), ``encoding`` what ``auto`` must detect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    printer: str
    width: int
    lines: list[str]
    expected: dict[str, Any] = field(default_factory=dict)


GB, GB_FS, BIG5, UTF8, CP437 = "gb18030", "gb18030-fs", "big5", "utf-8", "cp437"

# One layout per paragraph, its printed lines as compact as a receipt.
# fmt: off
LAYOUTS = [
    Layout(
        "coffee_member_discount", "coffee chain, member discount, WeChat Pay", GB, 32,
        ["^星巴克咖啡 国贸三期店", "小票号: 20261207083215", "日期: 2026-12-07 08:32:15",
         "收银员: 0012 王芳", "-", "品名|金额", "拿铁 大杯 x1|36.00", "美式 中杯 x2|56.00", "-",
         "合计|92.00", "会员折扣|-5.00", "实收|87.00", "微信支付|87.00", "-",
         "会员号: 138****5678", "谢谢惠顾 欢迎再次光临"],
        {"total": 87.0, "gross": 92.0, "discount": 5.0, "payments": [["wechat", 87.0]],
         "kind": "sale", "receipt_no": "20261207083215", "encoding": "gb18030", "doubts": []},
    ),
    Layout(
        "hotpot_discount", "hot-pot restaurant, discount, paid amount", GB, 48,
        ["^海底捞火锅 (五角场店)", "桌号: B12    人数: 4", "单号: HD202612070045",
         "开台: 2026-12-07 18:02   结账: 2026-12-07 19:48", "-", "菜品|数量   金额",
         "番茄锅底|1   48.00", "精品肥牛|2   96.00", "毛肚|1   52.00", "鸭血|1   22.00",
         "宽粉|2   24.00", "可乐|2   22.00", "-", "合计|264.00", "优惠|-13.20", "实收|250.80",
         "支付宝|250.80", "-", "欢迎下次光临"],
        {"total": 250.8, "gross": 264.0, "discount": 13.2, "payments": [["alipay", 250.8]],
         "kind": "sale", "encoding": "gb18030", "doubts": []},
    ),
    Layout(
        "supermarket_cash_change", "supermarket, cash handed over and change", GB, 32,
        ["^华联超市 五角场店", "流水号: 000183726", "2026-12-07 10:15:33  机号: 03", "-",
         "金龙鱼大米5kg|39.90", "伊利纯牛奶250ml*12|45.60", "  会员价|-3.60",
         "康师傅红烧牛肉面|4.50", "塑料袋|0.40", "-", "共4件", "合计|86.80", "实收|100.00",
         "找零|13.20", "-", "现金|100.00", "请保留小票 谢谢"],
        {"total": 86.8, "gross": 86.8, "tendered": 100.0, "change": 13.2,
         "payments": [["cash", 100.0]], "payment": "cash", "kind": "sale", "doubts": []},
    ),
    Layout(
        "supermarket_rounding_fs", "supermarket, rounding (抹零), due and cash, FS & mode",
        GB_FS, 42,
        ["^家乐福 古北店", "单据号: CF0302-20261207-1187", "时间: 2026-12-07 11:20:05", "-",
         "鲜鸡蛋30枚|1 x 28.80|28.80", "农夫山泉550ml|6 x 2.00|12.00",
         "上海青|0.856kg x 9.80|8.39", "五花肉|0.652kg x 36.00|23.47", "维达抽纸|1 x 55.90|55.90",
         "-", "合计|128.56", "抹零|-0.06", "应收|128.50", "现金|130.00", "找零|1.50", "-",
         "谢谢光临"],
        {"total": 128.5, "gross": 128.56, "discount": 0.06, "tendered": 130.0, "change": 1.5,
         "kind": "sale", "doubts": []},
    ),
    Layout(
        "restaurant_service_charge", "restaurant, service charge, Alipay", GB, 48,
        ["^外婆家 (来福士店)", "台号: 8    人数: 3", "账单号: WP20261207-0331", "-",
         "茶香鸡|1|58.00", "麻婆豆腐|1|18.00", "西湖醋鱼|1|68.00", "外婆红烧肉|1|46.00",
         "米饭|3|6.00", "茶位|3|24.00", "-", "小计|220.00", "服务费(10%)|22.00", "合计|242.00",
         "实付|242.00", "支付宝|242.00", "-", "谢谢光临"],
        {"total": 242.0, "gross": 220.0, "payments": [["alipay", 242.0]], "kind": "sale",
         "doubts": []},
    ),
    Layout(
        "restaurant_prebill", "restaurant pre-bill (预结单) before payment: not a sale", GB, 48,
        ["^小南国 (环球港店)", "*** 预结单 ***", "台号: 16    人数: 6", "单号: XNG-1207-0088", "-",
         "红烧狮子头|1|88.00", "清蒸鲥鱼|1|198.00", "蟹粉豆腐|1|68.00", "炒时蔬|2|56.00",
         "米饭|6|18.00", "-", "小计|428.00", "服务费(10%)|42.80", "应付|470.80", "-",
         "此单非付款凭证"],
        {"total": 470.8, "gross": 428.0, "kind": "prebill"},
    ),
    Layout(
        "restaurant_bill_paid", "restaurant 结账单 after payment: a sale", GB, 48,
        ["^小南国 (环球港店)", "结账单", "台号: 16    人数: 6", "单号: XNG-1207-0088", "-",
         "红烧狮子头|1|88.00", "清蒸鲥鱼|1|198.00", "蟹粉豆腐|1|68.00", "炒时蔬|2|56.00",
         "米饭|6|18.00", "-", "小计|428.00", "服务费(10%)|42.80", "应付|470.80", "会员折扣|-20.80",
         "实付|450.00", "微信|450.00", "-", "谢谢光临"],
        {"total": 450.0, "gross": 428.0, "discount": 20.8, "payments": [["wechat", 450.0]],
         "kind": "sale", "doubts": []},
    ),
    Layout(
        "restaurant_reprint", "restaurant receipt printed again (重打): not a second sale", GB, 48,
        ["^外婆家 (来福士店)", "** 重打小票 **", "账单号: WP20261207-0331", "-", "茶香鸡|1|58.00",
         "麻婆豆腐|1|18.00", "-", "合计|76.00", "实付|76.00", "微信支付|76.00"],
        {"total": 76.0, "kind": "reprint"},
    ),
    Layout(
        "kitchen_ticket", "kitchen ticket (厨打): not a receipt", GB, 32,
        ["^厨打单", "台号: A12   人数: 2", "下单: 2026-12-07 12:03", "-", "宫保鸡丁 x1",
         "鱼香肉丝 x1", "米饭 x2", "-", "备注: 少辣"],
        {"total": None, "kind": "kitchen"},
    ),
    Layout(
        "void_order", "voided sale (作废): not a sale", GB, 32,
        ["^全家便利店", "*** 作废单 ***", "流水号: FM0091827", "-", "饭团|8.50", "咖啡|12.00", "-",
         "合计|20.50"],
        {"kind": "void"},
    ),
    Layout(
        "cancelled_order", "cancelled order (订单已取消): not a sale", GB, 32,
        ["^喜茶 HEYTEA", "订单已取消", "订单号: HT20261207A1234", "-", "多肉葡萄|29.00", "-",
         "合计|29.00", "退款至微信|29.00"],
        {"kind": "void"},
    ),
    Layout(
        "cinema_stored_value", "cinema tickets and snacks, stored-value card", GB, 32,
        ["^万达影城 (五角场店)", "订单号: WD2026120700871", "影片: 流浪地球3",
         "场次: 12-07 19:30  4号厅", "座位: 8排7座 8排8座", "-", "电影票 x2|90.00",
         "爆米花套餐|38.00", "-", "合计|128.00", "储值卡支付|128.00", "储值卡余额|372.00", "-",
         "请提前10分钟入场"],
        {"total": 128.0, "gross": 128.0, "payments": [["stored_value", 128.0]], "kind": "sale",
         "doubts": []},
    ),
    Layout(
        "pharmacy_points_unionpay", "pharmacy, points redeemed (积分抵扣), UnionPay card", GB, 42,
        ["^老百姓大药房", "销售单号: LBX-0531-20261207-0042", "2026-12-07 15:42", "-",
         "品名/规格|金额", "999感冒灵颗粒 10g*9袋|19.80", "布洛芬缓释胶囊 0.3g*20|28.60",
         "医用口罩 10只|15.00", "维生素C片 100片|13.00", "-", "合计|76.40", "积分抵扣|-2.00",
         "应收|74.40", "银联卡|74.40", "卡号: 622202******0123", "-", "药品售出概不退换"],
        {"total": 74.4, "gross": 76.4, "discount": 2.0, "payments": [["unionpay", 74.4]],
         "kind": "sale", "doubts": []},
    ),
    Layout(
        "apparel_refund", "apparel refund (退货单) to WeChat", GB, 42,
        ["^优衣库 UNIQLO 正大广场店", "退货单", "单号: UQ20261207R0019", "原单号: UQ20261201S0877",
         "-", "摇粒绒夹克 M|-299.00", "-", "退款金额|-299.00", "退回微信|299.00", "-",
         "退款将在1-3个工作日到账"],
        {"total": -299.0, "refund": True, "kind": "refund"},
    ),
    Layout(
        "apparel_exchange", "apparel exchange: one returned, one bought, the difference paid",
        GB, 42,
        ["^ZARA 南京西路店", "换货单", "单号: ZR20261207E0007", "-", "退货 针织衫 S|-199.00",
         "新购 针织衫 M 羊毛|259.00", "-", "合计|60.00", "实收|60.00", "支付宝|60.00"],
        {"total": 60.0, "gross": 60.0, "payments": [["alipay", 60.0]], "doubts": []},
    ),
    Layout(
        "department_store_counter", "department store counter, spend-and-save (满减)", GB, 32,
        ["^百联东方商厦", "专柜: 3F-021 某品牌女装", "收银单号: BL-3F-0021-88123",
         "2026-12-07 16:05", "-", "羊绒大衣|1,280.00", "-", "合计|1,280.00",
         "满减(满1000减200)|-200.00", "应付|1,080.00", "银联|1,080.00", "-", "发票抬头: 张三",
         "税号: 91310000MA1K4ABCDE"],
        {"total": 1080.0, "gross": 1280.0, "discount": 200.0, "payments": [["unionpay", 1080.0]],
         "kind": "sale", "doubts": [], "masked_absent": ["张三", "91310000MA1K4ABCDE"]},
    ),
    Layout(
        "split_payment_one_line", "split payment printed on one line", GB, 32,
        ["^奈雪的茶", "订单号: NX20261207-0456", "-", "霸气芝士草莓|32.00", "宝藏茶|25.00",
         "欧包|30.00", "-", "合计|87.00", "微信 50.00 / 现金 37.00"],
        {"total": 87.0, "payments": [["wechat", 50.0], ["cash", 37.0]], "payment": "mixed",
         "doubts": []},
    ),
    Layout(
        "split_payment_stored_value", "split payment, stored-value card and Alipay, FS & mode",
        GB_FS, 42,
        ["^屈臣氏 Watsons", "交易号: WS0087-20261207-311", "-", "面膜 10片|129.00",
         "洗发水 750ml|89.00", "防晒霜|102.00", "-", "合计|320.00", "储值卡|200.00",
         "支付宝|120.00"],
        {"total": 320.0, "payments": [["stored_value", 200.0], ["alipay", 120.0]], "doubts": []},
    ),
    Layout(
        "bakery_coupon", "bakery, coupon (优惠券), paid amount", GB, 32,
        ["^85度C", "单号: 85C-1207-0192", "-", "肉松面包|12.00", "提拉米苏|18.00",
         "海盐咖啡|15.00", "-", "合计|45.00", "优惠券|-10.00", "实付|35.00", "微信|35.00"],
        {"total": 35.0, "gross": 45.0, "discount": 10.0, "doubts": []},
    ),
    Layout(
        "milk_tea_full_reduction", "milk tea, spend-and-save (满减)", GB, 32,
        ["^蜜雪冰城", "取餐号: 0238", "-", "冰鲜柠檬水|4.00", "珍珠奶茶|7.00", "杨枝甘露|35.00",
         "-", "商品金额|46.00", "满减|-8.00", "实付|38.00", "支付宝|38.00"],
        {"total": 38.0, "gross": 46.0, "discount": 8.0, "doubts": []},
    ),
    Layout(
        "convenience_rounding_cash", "convenience store, rounding and cash with change", GB, 32,
        ["^罗森 LAWSON", "No. 0093-1207-2231", "-", "关东煮|9.50", "便当|13.97", "-", "合计|23.47",
         "抹零|-0.07", "实收|30.00", "找零|6.60"],
        {"total": 23.4, "gross": 23.47, "discount": 0.07, "tendered": 30.0, "change": 6.6,
         "doubts": []},
    ),
    Layout(
        "hk_cafe_big5", "Hong Kong cha chaan teng, Big5, service charge, Octopus", BIG5, 42,
        ["^翠華餐廳 (旺角店)", "單號: TW-1207-0567", "-", "奶茶|1|22.00", "菠蘿油|1|18.00",
         "星洲炒米|1|56.00", "-", "小計|96.00", "服務費|9.60", "總計|105.60", "八達通|105.60", "-",
         "多謝惠顧"],
        {"total": 105.6, "gross": 96.0, "payments": [["stored_value", 105.6]], "encoding": "big5",
         "doubts": []},
    ),
    Layout(
        "tw_bento_big5_integers", "Taiwan bento shop, Big5, prices without cents", BIG5, 32,
        ["^池上便當", "單號: 1207-088", "-", "排骨便當|100", "滷蛋|20", "-", "合計|120",
         "現金|200", "找零|80"],
        {"total": 120.0, "tendered": 200.0, "change": 80.0, "encoding": "big5"},
    ),
    Layout(
        "android_pos_utf8", "Android POS printing UTF-8", UTF8, 32,
        ["^瑞幸咖啡", "订单号: LK20261207099", "-", "生椰拿铁|29.00", "丝绒拿铁|29.00", "-",
         "合计|58.00", "优惠|-3.00", "实付|55.00", "支付宝|55.00"],
        {"total": 55.0, "gross": 58.0, "discount": 3.0, "encoding": "utf-8", "doubts": []},
    ),
    Layout(
        "english_us_tax_cash", "US store, sales tax, cash and change", CP437, 42,
        ["^CORNER DELI", "123 Main St", "Receipt #: 004512", "12/07/2026 09:14 AM", "-",
         "TURKEY CLUB|11.95", "CHICKEN SOUP|6.50", "ICED TEA|2.95", "BROWNIE|3.45", "CHIPS|2.49",
         "SALAD|15.99", "-", "SUBTOTAL|43.33", "TAX 8.25%|3.57", "TOTAL|46.90", "CASH|50.00",
         "CHANGE|3.10", "-", "THANK YOU"],
        {"total": 46.9, "gross": 43.33, "tendered": 50.0, "change": 3.1, "kind": "sale",
         "doubts": []},
    ),
    Layout(
        "english_sg_gst_service", "Singapore restaurant, service charge and GST, Visa", CP437, 48,
        ["^LAU PA SAT HAWKER", "Bill No: SG-88812", "07/12/2026 13:02", "-",
         "Chicken Rice|2|10.00", "Satay (10 sticks)|1|10.00", "-", "Subtotal|20.00",
         "Service Charge 10%|2.00", "GST 7%|1.54", "Total|23.54", "VISA|23.54",
         "VISA ************1234"],
        {"total": 23.54, "gross": 20.0, "payments": [["card", 23.54]], "doubts": []},
    ),
    Layout(
        "english_refund", "English refund receipt", CP437, 32,
        ["^ABC STORE", "*** REFUND ***", "Receipt No: R-000981", "14/03/2026 11:22", "-",
         "Blue shirt|-29.99", "-", "REFUND TOTAL|29.99", "Refunded to MASTERCARD"],
        {"total": -29.99, "refund": True, "kind": "refund"},
    ),
    Layout(
        "english_reprint", "English receipt printed again (REPRINT)", CP437, 32,
        ["^CORNER DELI", "** REPRINT **", "Receipt #: 004511", "-", "BAGEL|3.25", "COFFEE|2.75",
         "-", "TOTAL|6.00", "CASH|6.00"],
        {"total": 6.0, "kind": "reprint"},
    ),
    Layout(
        "english_void", "English voided sale", CP437, 32,
        ["^CORNER DELI", "VOID", "Receipt #: 004513", "-", "BAGEL|3.25", "-", "TOTAL|3.25"],
        {"kind": "void"},
    ),
    Layout(
        "english_amount_due_card", "English amount due, card", CP437, 32,
        ["^BOOK NOOK", "Trans #: 77812", "-", "NOVEL|12.50", "-", "AMOUNT DUE|12.50",
         "CARD|12.50"],
        {"total": 12.5, "payments": [["card", 12.5]], "doubts": []},
    ),
    Layout(
        "hotel_restaurant_member", "hotel restaurant, member discount and service charge", GB, 48,
        ["^锦江饭店 中餐厅", "账单号: JJ-CN-20261207-018", "包间: 牡丹厅   人数: 8", "-",
         "消费金额|580.00", "会员折扣(9折)|-58.00", "服务费|52.20", "应付|574.20", "微信|574.20",
         "-", "会员号: 6688001234"],
        {"total": 574.2, "gross": 580.0, "discount": 58.0, "payments": [["wechat", 574.2]],
         "doubts": [], "masked_absent": ["6688001234"]},
    ),
    Layout(
        "supermarket_member_tendered", "supermarket, member discount, due, cash tendered", GB, 42,
        ["^永辉超市", "小票号: YH0042-1207-5531", "会员号: 13812345678", "-",
         "红富士苹果|1.25kg x 12.80|16.00", "酸奶|2 x 12.90|25.80", "面包|1 x 15.00|15.00", "-",
         "合计|56.80", "会员折扣|-2.84", "应收|53.96", "实收|100.00", "找零|46.04", "本次积分|53"],
        {"total": 53.96, "gross": 56.8, "discount": 2.84, "tendered": 100.0, "change": 46.04,
         "doubts": [], "masked_absent": ["13812345678"]},
    ),
    Layout(
        "coffee_fs_mode", "coffee shop, each line in FS & (GB18030)", GB_FS, 42,
        ["^Manner Coffee", "单号: MN-1207-0091", "-", "澳白|1|20.00", "脏脏|1|22.00", "-",
         "合计|42.00", "实收|42.00", "微信支付|42.00"],
        {"total": 42.0, "gross": 42.0, "doubts": []},
    ),
    Layout(
        "two_totals_disagree", "two different amounts due printed: doubted", GB, 32,
        ["^某小吃店", "单号: XC-1207-0011", "-", "小笼包|25.00", "馄饨|18.00", "-", "应付|43.00",
         "应付|45.00", "微信|45.00"],
        {"total": 45.0, "doubts": ["items_vs_gross", "total_candidates"]},
    ),
    Layout(
        "unexplained_line", "an amount line nothing explains: doubted", GB, 32,
        ["^某面馆", "单号: MG-1207-0102", "-", "牛肉面|28.00", "-", "合计|28.00", "打包盒 2.00",
         "实付|30.00", "微信|30.00"],
        {"total": 30.0, "doubts": ["gross_vs_total", "unexplained_amount"]},
    ),
]
# fmt: on
