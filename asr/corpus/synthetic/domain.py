"""The text domain: what an in-car voice assistant and a customer-service line hear.

Commands for navigation, car controls, media, phone, weather, reminders and
customer service, as a :class:`~asr.corpus.synthetic.grammar.Grammar`. Texts are
Simplified Chinese characters only (no digits, Latin letters, punctuation or
erhua), so that every character has one Mandarin pinyin syllable that eSpeak NG's
``cmn-latn-pinyin`` voice reads, and one Cantonese reading in its ``yue``
dictionary (both checked by the tests).
"""

from __future__ import annotations

from asr.corpus.synthetic.grammar import Grammar


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


SLOTS: dict[str, tuple[str, ...]] = {
    # --- places -------------------------------------------------------------------
    "city": _words(
        "北京 上海 广州 深圳 成都 重庆 杭州 南京 武汉 西安 天津 苏州 长沙 郑州 青岛 沈阳 大连 厦门 "
        "宁波 无锡 合肥 福州 济南 昆明 贵阳 南宁 海口 兰州 太原 石家庄 哈尔滨 长春 南昌 温州 佛山 "
        "东莞 珠海 桂林 拉萨 银川 西宁 扬州 绍兴 嘉兴 常州 徐州 洛阳 开封 泉州 汕头 三亚 丽江 大理 "
        "绵阳 宜宾 乐山 遵义 烟台 威海 保定 唐山 香港 澳门 台北 湛江 江门 惠州 肇庆 镇江 湖州 金华 "
        "台州 南通 盐城 泰州 九江 赣州 襄阳 宜昌 岳阳 株洲 柳州 北海 秦皇岛 张家界"
    ),
    "landmark": _words(
        "天安门 故宫 外滩 东方明珠 西湖 宽窄巷子 春熙路 解放碑 黄鹤楼 大雁塔 人民广场 世纪公园 "
        "火车东站 火车南站 国际机场 体育中心 会展中心 市政府 第一人民医院 儿童医院 中心医院 "
        "中山大学 科技园 高新区 老城区 新城区 步行街 万达广场 大学城 植物园 动物园 海洋公园 "
        "长江大桥 滨江公园 奥林匹克公园 江北机场 白云机场 虹桥机场 浦东机场 首都机场"
    ),
    "road": _words(
        "人民路 中山路 解放路 建设路 和平路 长江路 黄河路 新华路 胜利路 光明路 文化路 东风路 "
        "迎宾大道 滨江大道 友谊路 幸福路 青年路 学院路 工业大道 环城路 北京路 南京路 世纪大道 "
        "朝阳路 淮海路 延安路 复兴路 五一路"
    ),
    "poi_type": _words(
        "加油站 充电站 停车场 医院 药店 银行 超市 餐厅 火锅店 咖啡店 便利店 洗车店 酒店 宾馆 公园 "
        "学校 图书馆 博物馆 电影院 商场 菜市场 派出所 邮局 机场 火车站 高铁站 汽车站 地铁站 服务区 "
        "维修店 卫生间 快餐店 面馆 书店 花店 体育馆 游泳馆 健身房 理发店 幼儿园 景点"
    ),
    "place": _words(
        "{city}{poi_type} {landmark} {city}{landmark} {road}{number}号 {city}{road} "
        "{road}{poi_type} 公司 家里 单位 学校门口 小区门口 {relation}家"
    ),
    "avoid": _words("拥堵路段 收费站 高速公路 施工路段 隧道 轮渡 山路 限行区域 学校路段"),
    "route_pref": _words("最快 最短 不走高速 少收费 红绿灯少 躲避拥堵 大路优先 高速优先"),
    # --- numbers (read as characters) ------------------------------------------------
    "digit": _words("一 二 三 四 五 六 七 八 九"),
    "number": _words("{digit} 十 十{digit} {digit}十 {digit}十{digit} {digit}百 {digit}百零{digit}"),
    "small_number": _words("{digit} 十 十{digit} 二十 二十{digit} 三十"),
    "temperature": _words("十六 十七 十八 十九 二十 二十一 二十二 二十三 二十四 二十五 二十六 二十七 二十八"),
    "level": _words("一 二 三 四 五 六 最高 最低"),
    "percent": _words("十 二十 三十 四十 五十 六十 七十 八十 九十 一百"),
    "hour": _words("一 两 三 四 五 六 七 八 九 十 十一 十二"),
    "minute": _words("半 一刻 三刻 零五分 十分 十五分 二十分 四十分 五十分"),
    "code_digit": _words("零 一 二 三 四 五 六 七 八 九"),
    "code": _words("{code_digit}{code_digit}{code_digit}{code_digit}"),
    "month": _words("一 二 三 四 五 六 七 八 九 十 十一 十二"),
    "weekday": _words("一 二 三 四 五 六 日"),
    # --- times ------------------------------------------------------------------------
    "day": _words("今天 明天 后天 周末 星期{weekday} 下周{weekday} 这周{weekday}"),
    "part_of_day": _words("早上 上午 中午 下午 傍晚 晚上 凌晨"),
    "clock": _words("{hour}点 {hour}点{minute} {part_of_day}{hour}点 {part_of_day}{hour}点{minute}"),
    "when": _words("{clock} {day}{clock} 十分钟后 半小时后 一小时后 {small_number}分钟后"),
    # --- car --------------------------------------------------------------------------
    "device": _words(
        "空调 暖气 除雾 车窗 天窗 雨刷 大灯 雾灯 阅读灯 氛围灯 座椅加热 座椅通风 方向盘加热 "
        "后视镜加热 蓝牙 收音机 行车记录仪 倒车影像 自动驾驶 定速巡航 车道保持 内循环 外循环 "
        "后备箱 遮阳帘 香氛系统 按摩功能 儿童锁 哨兵模式"
    ),
    "seat": _words("主驾 副驾 后排 左后 右后 全部"),
    "adjustable": _words("音量 温度 风量 亮度 声音 屏幕亮度 座椅靠背 后视镜 导航音量"),
    "direction": _words("高 低 大 小 亮 暗"),
    "ac_mode": _words("制冷 制热 自动 除湿 通风 节能"),
    # --- media ------------------------------------------------------------------------
    "surname": _words(
        "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 "
        "彭 曾 田 董 袁 潘 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 钟 陆 金 石 夏 方 白 孟 江 钱"
    ),
    "given": _words(
        "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 杰 娟 涛 明 超 秀英 霞 平 刚 建华 文 华 建国 玉兰 "
        "红 志强 海燕 春梅 晓东 小红 雪梅 国庆 丹 鹏 辉 宇 浩 欣怡 思远 佳怡 一鸣 博文 "
        "俊杰 婷婷 晨 琳 凯 斌 宁 亮 健 波 玲 燕 飞 新 林 慧 浩然 阳 鑫 峰"
    ),
    "person": _words(
        "{surname}{given} {surname}经理 {surname}老师 {surname}医生 {surname}师傅 {surname}总 "
        "{surname}主任 {surname}律师 {surname}阿姨 {surname}叔叔"
    ),
    "relation": _words("妈妈 爸爸 老婆 老公 儿子 女儿 哥哥 姐姐 弟弟 妹妹 爷爷 奶奶 外婆 外公 同事 老板 客户 朋友 司机 房东"),
    "genre": _words(
        "流行音乐 古典音乐 摇滚乐 民谣 爵士乐 轻音乐 儿歌 相声 评书 有声小说 新闻 广播剧 粤语歌 "
        "经典老歌 钢琴曲 网络歌曲 电子音乐 说唱 交响乐 戏曲 京剧 越剧 川剧 民乐 英文歌 热门歌曲"
    ),
    "work": _words("歌 新歌 专辑 成名曲 演唱会 老歌 情歌 代表作"),
    "station": _words("交通广播 音乐广播 新闻广播 经济广播 文艺广播 故事广播 都市频道"),
    # --- phone and messages -------------------------------------------------------------
    "message": _words(
        "我马上到 我在路上 晚点回家 路上堵车了 十分钟后到 今天不回来吃饭 开完会再联系 "
        "我已经到楼下了 帮我留个门 明天见 请稍等一下 我快到了 先别等我 记得带钥匙 会议改到明天"
    ),
    # --- weather ------------------------------------------------------------------------
    "weather_q": _words(
        "天气怎么样 会下雨吗 会下雪吗 气温多少度 风大不大 空气质量怎么样 适合洗车吗 需要带伞吗 "
        "紫外线强吗 有没有雾 最高温度多少 湿度大吗"
    ),
    # --- reminders ----------------------------------------------------------------------
    "task": _words(
        "开会 加油 买菜 交电费 交水费 接孩子 去医院 还信用卡 保养汽车 吃药 给{relation}打电话 "
        "取快递 订机票 订酒店 交房租 去银行 洗车 年检 换机油 买生日蛋糕 参加婚礼 看牙医 "
        "去健身 遛狗 浇花 交物业费 续保险 办签证"
    ),
    # --- customer service ---------------------------------------------------------------------
    "account_item": _words(
        "话费余额 剩余流量 积分 账单 信用卡额度 快递进度 物流信息 订单状态 退款进度 会员等级 "
        "套餐内容 通话记录 缴费记录 优惠券 还款日期 贷款余额 保单信息 违章记录 预约时间 维修进度"
    ),
    "bill": _words("话费 账单 电费 水费 燃气费 宽带费 流量费 信用卡账单 物业费 停车费"),
    "product": _words(
        "手机 耳机 充电器 电视 冰箱 洗衣机 空调 电脑 键盘 鼠标 衣服 鞋子 行李箱 电饭煲 微波炉 "
        "热水器 吸尘器 手表 平板 音箱 路由器 机顶盒 打印机 相机 台灯 床垫 沙发 书包 眼镜 轮胎"
    ),
    "service": _words(
        "宽带 流量套餐 信用卡 会员 自动续费 分期付款 停机保号 号码转网 来电提醒 国际漫游 "
        "家庭套餐 上门维修 以旧换新 延长保修 电子发票 挂失 销户 免密支付 短信提醒 视频会员"
    ),
    "info": _words("收货地址 手机号码 登录密码 支付密码 绑定银行卡 发票抬头 联系人 预留手机号 昵称 邮箱地址 紧急联系人"),
    "complaint": _words("快递员 服务态度 网络信号 产品质量 送货太慢 乱收费 虚假宣传 售后服务 客服电话打不通 商品破损 少发货 重复扣费"),
    "problem": _words("坏了 开不了机 充不进电 没有声音 屏幕碎了 连不上网 一直重启 漏水了 有异响 发热严重 收不到短信 打不出电话"),
}

TEMPLATES: tuple[tuple[str, float], ...] = (
    # navigation
    ("导航到{place}", 3.0),
    ("带我去{place}", 2.0),
    ("去{place}怎么走", 2.0),
    ("我要去{place}", 2.0),
    ("帮我找附近的{poi_type}", 1.5),
    ("附近有没有{poi_type}", 1.5),
    ("最近的{poi_type}在哪里", 1.5),
    ("从{place}到{place}要多久", 1.0),
    ("导航到{place}避开{avoid}", 1.0),
    ("换一条{route_pref}的路线", 0.5),
    ("还有多远到{place}", 1.0),
    ("沿途有没有{poi_type}", 1.0),
    ("把{place}设为目的地", 1.0),
    ("{place}附近哪里可以停车", 0.8),
    ("前方路况怎么样", 0.1),
    ("取消当前导航", 0.1),
    ("查看全程路线", 0.1),
    ("{city}到{city}有多远", 0.8),
    ("{road}堵不堵", 0.6),
    ("途经{place}去{place}", 0.6),
    # car controls
    ("打开{device}", 1.5),
    ("关闭{device}", 1.5),
    ("把{device}打开", 1.0),
    ("帮我关掉{device}", 1.0),
    ("打开{seat}座椅加热", 0.6),
    ("打开{seat}车窗", 0.6),
    ("关闭{seat}车窗", 0.6),
    ("空调温度调到{temperature}度", 1.0),
    ("把温度调到{temperature}度", 1.0),
    ("空调调成{ac_mode}模式", 0.6),
    ("风量调到{level}档", 0.6),
    ("座椅加热调到{level}档", 0.6),
    ("把{adjustable}调{direction}一点", 1.0),
    ("{adjustable}调到{level}档", 0.6),
    ("车窗打开百分之{percent}", 0.6),
    # media
    ("播放{person}的{work}", 1.5),
    ("我想听{person}的{work}", 1.5),
    ("来一首{genre}", 1.0),
    ("播放{genre}", 1.0),
    ("我想听{genre}", 1.0),
    ("音量调到百分之{percent}", 0.8),
    ("打开{city}{station}", 0.8),
    ("收藏正在播放的歌", 0.1),
    ("切换到下一首歌", 0.1),
    ("随机播放{genre}", 0.6),
    # phone
    ("给{person}打电话", 1.5),
    ("打电话给{relation}", 1.0),
    ("呼叫{person}的手机", 1.0),
    ("给{relation}发消息说{message}", 1.2),
    ("给{person}发微信说{message}", 1.2),
    ("回拨刚才的电话", 0.1),
    ("查一下{person}的电话", 0.8),
    # weather
    ("{city}{day}{weather_q}", 2.0),
    ("{day}{city}{weather_q}", 1.5),
    ("{day}{weather_q}", 0.8),
    # reminders and alarms
    ("{when}提醒我{task}", 2.0),
    ("提醒我{when}{task}", 1.5),
    ("设置{clock}的闹钟", 1.0),
    ("取消{day}{clock}的闹钟", 0.8),
    ("{day}{clock}和{person}开会", 1.0),
    # customer service
    ("我想查一下{account_item}", 1.2),
    ("帮我查询{account_item}", 1.2),
    ("帮我查{month}月的{bill}", 1.0),
    ("我{month}月的{bill}是多少", 1.0),
    ("我的{product}什么时候能到", 1.0),
    ("我要退货这个{product}", 0.8),
    ("我买的{product}{problem}", 1.5),
    ("{product}{problem}怎么办", 1.2),
    ("我要投诉{complaint}", 1.0),
    ("怎么修改{info}", 1.0),
    ("我想修改{info}", 1.0),
    ("我想办理{service}", 1.0),
    ("帮我取消{service}", 1.0),
    ("{service}怎么收费", 0.8),
    ("{product}的保修期是多久", 0.8),
    ("我的订单尾号是{code}", 0.6),
    ("验证码是{code}", 0.4),
    ("我要转人工客服", 0.1),
    ("请帮我转人工服务", 0.1),
    ("预约{day}{clock}上门维修", 0.8),
)

#: The grammar that every synthetic corpus draws its texts from.
GRAMMAR = Grammar(templates=TEMPLATES, slots=SLOTS)
